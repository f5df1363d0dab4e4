"""What the Airflow UI lists: a one-line description per DAG, mapped tasks labelled by name."""

from __future__ import annotations

import pytest

from cx_tasks.collect.contract import SOURCE_TABLES

pytestmark = pytest.mark.airflow

DESCRIPTION_MAX_CHARS = 120
"""The DAG list shows a description on one line: a sentence, not a manual (that is doc_md)."""


def test_every_dag_has_a_one_line_description(dag_bag) -> None:
    for dag_id, dag in dag_bag.dags.items():
        assert dag.description, f"{dag_id} has no description"
        assert "\n" not in dag.description, f"{dag_id}: description is not one line"
        assert len(dag.description) <= DESCRIPTION_MAX_CHARS, f"{dag_id}: description too long"


def test_mapped_tasks_are_labelled_by_what_they_map_over(dag_bag) -> None:
    mapped = [(dag_id, task) for dag_id, dag in dag_bag.dags.items() for task in dag.tasks
              if task.is_mapped]
    # each extract by its table; each approval in Required Actions by the proposal's title
    assert {(dag_id, task.task_id): task.map_index_template for dag_id, task in mapped} == {
        ("cx_collect_nightly", "extract"): "{{ table }}",
        ("cx_implement", "approve_initiative"): "{{ task.subject }}"}
    # the label is the table each extract reads: its mapped argument
    extract = dag_bag.dags["cx_collect_nightly"].get_task("extract")
    assert extract.op_kwargs_expand_input.value["table"] == [t.name for t in SOURCE_TABLES]
