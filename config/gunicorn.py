"""gunicorn settings every way of serving uses (`-c config/gunicorn.py`: Dockerfile, docker-compose,
`manage.py serve_all --gunicorn`, the fuzz and load stacks).

gunicorn answers request lines and header fields beyond its limits itself, with an HTML 414/400 that never
reaches Django's error shape; the default request line (4,094 bytes) refused a search of a few thousand
characters that way. Raised to gunicorn's maximum (8,190, docs.gunicorn.org "limit_request_line"), so query
strings up to that size get the application's answer; longer ones stay a transport-level refusal.
"""

limit_request_line = 8190
limit_request_field_size = 8190
