ARG REGISTRY=docker.io
ARG BASE_IMAGE=library/debian
ARG BASE_TAG
FROM ${REGISTRY}/${BASE_IMAGE}:${BASE_TAG:-12.6} AS base
ARG APP_HOME=/opt/app
ENV APP_HOME=${APP_HOME}
WORKDIR $APP_HOME
ARG APP_UID=10001
RUN groupadd -g ${APP_UID} app && useradd -u ${APP_UID} -g app app
USER ${APP_UID}:${APP_UID}
CMD ["./run"]
