FROM ubuntu
MAINTAINER ops team <ops@example.com>
RUN apt-get update
RUN apt-get install -y curl openssh-server sudo
ENV DB_PASSWORD=changeme
ADD app.py /opt/app/
RUN curl -sSL https://get.example.com/install.sh | bash
RUN chmod 777 /opt/app
EXPOSE 22 8000
WORKDIR opt/app
CMD python3 app.py
