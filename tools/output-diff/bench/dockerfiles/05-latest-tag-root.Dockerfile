FROM nginx:latest
COPY site/ /usr/share/nginx/html/
USER root
EXPOSE 80
