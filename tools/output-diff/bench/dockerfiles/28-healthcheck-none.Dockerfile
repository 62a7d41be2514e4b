FROM postgres:16.3-bookworm
HEALTHCHECK NONE
USER postgres
CMD ["postgres"]
