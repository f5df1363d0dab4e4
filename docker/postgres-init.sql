-- Databases of the compose stack besides Airflow's own: the CX warehouse and a
-- database standing in for the supplier's systems (replace with real views).
CREATE USER cx WITH PASSWORD 'cx';
CREATE DATABASE cx_warehouse OWNER cx;
CREATE DATABASE supplier OWNER cx;
