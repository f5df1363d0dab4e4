"""Airflow glue that CX Loop's DAGs share: assets, default arguments, connections, mail.

Airflow puts the plugins folder on ``sys.path``, so DAG files import ``cx_airflow.*``.
Every module here is cheap to import (DAG files import them at parse time): heavy
imports (pandas, Great Expectations, SMTP hooks) happen inside functions.
"""
