"""The adjust stage: the measured effect of each initiative, the model learning over real
periods, key accounts at the table and the predictions about staff and clients."""
