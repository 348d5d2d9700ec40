# Front-end packages come from the npm registry at build time (pinned by package-lock.json); only their
# dist folders reach the image, through collectstatic.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
COPY --from=assets /assets/node_modules ./node_modules
# Static files are collected at build time with throwaway production settings (nothing connects here).
RUN DJANGO_ENV=production SECRET_KEY=build-only-not-used-at-runtime ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost:5432/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --home-dir /app planner \
    && chown -R planner /app

USER planner
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2"]
