# The CX Loop image for the compose stack: Airflow 3.3.2 plus the project's locked
# dependencies (requirements.lock is exported from uv.lock) and the project itself.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.lock /opt/cx-loop/requirements.lock
RUN pip install --no-cache-dir -r /opt/cx-loop/requirements.lock
COPY --chown=airflow:0 . /opt/cx-loop
RUN pip install --no-cache-dir --no-deps -e /opt/cx-loop
WORKDIR /opt/cx-loop
