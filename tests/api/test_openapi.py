"""/openapi.json declares what the API accepts: no more, no less."""

from __future__ import annotations

from flask.testing import FlaskClient

from runner.identifiers import AVATARS


def test_the_avatar_path_parameter_is_the_enum_of_the_64_avatars(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    operation = document["paths"]["/katas/{kata_id}/avatars/{avatar_name}/runs"]["post"]
    avatar = next(p for p in operation["parameters"] if p["name"] == "avatar_name")
    assert avatar["schema"]["enum"] == list(AVATARS) and len(AVATARS) == 64
    assert client.put("/katas/5A0F8E2B1C/avatars/dodo", json={}).status_code == 400
