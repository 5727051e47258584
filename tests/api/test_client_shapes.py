"""The client's typed answers have the keys the API answers with."""

from __future__ import annotations

from flask.testing import FlaskClient

from api.schemas import Accepted, Job, Kata
from client import shapes
from tests.conftest import SHELL


def test_the_clients_kata_record_has_the_keys_of_the_apis(client: FlaskClient) -> None:
    kata_id = "5A0F8E2B1C"
    assert client.put(f"/katas/{kata_id}", json={"image_name": SHELL}).status_code == 202
    answered = client.get(f"/katas/{kata_id}").get_json()
    assert set(shapes.KataRecord.__annotations__) == set(answered) == set(Kata.model_fields)


def test_the_clients_job_and_accepted_have_the_keys_of_the_apis() -> None:
    assert set(shapes.Job.__annotations__) == set(Job.model_fields)
    assert set(shapes.Accepted.__annotations__) == set(Accepted.model_fields)
