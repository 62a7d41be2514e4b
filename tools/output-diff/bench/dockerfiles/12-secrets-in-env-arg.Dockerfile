FROM php:8.3-apache
ARG COMPOSER_AUTH_TOKEN
ARG GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789
ENV APP_ENV=production \
    MYSQL_ROOT_PASSWORD=root \
    AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
ENV SESSION_SECRET secret-value-here
ENV S3_ACCESS=AKIAIOSFODNN7EXAMPLE
ENV DB_PASSWORD_FILE=/run/secrets/db_password
COPY id_rsa /root/.ssh/id_rsa
COPY .env /var/www/html/.env
COPY src/ /var/www/html/
USER www-data
