FROM debian:12.6-slim AS runtime-base
RUN useradd -r -u 10001 app
USER 10001

FROM golang:1.22.5 AS build
WORKDIR /src
COPY . .
RUN go build -o /app .

FROM runtime-base
COPY --from=build /app /usr/local/bin/app
HEALTHCHECK CMD ["/usr/local/bin/app", "health"]
CMD ["/usr/local/bin/app"]
