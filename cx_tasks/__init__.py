"""CX Loop business logic: plain, typed Python that never imports Airflow."""
