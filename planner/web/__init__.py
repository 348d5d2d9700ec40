"""The web interface: Django templates with a little plain JavaScript (planner/static/web/)."""
