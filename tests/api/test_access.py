"""Access control as ML Commons has it: two users who must not see each
other's connectors, models or tasks, by id or by search; restricted groups
shared by backend role; admins see everything."""

import copy

import pytest

from tests.integration.blueprints import OPENAI_BATCH_CONNECTOR

ML = "/_plugins/_ml"


@pytest.fixture
def alice(client_for):
    return client_for("alice", "team-a")


@pytest.fixture
def bob(client_for):
    return client_for("bob", "team-b")


@pytest.fixture
def admin(client_for):
    return client_for("root", admin=True)


def _ok(response) -> dict:
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _forbidden(response) -> None:
    body = response.get_json()
    assert response.status_code == 403, body
    assert body["error"]["type"] == "security_exception"
    assert "privilege" in body["error"]["reason"] or "roles" in body["error"]["reason"]


def _connector(client, **access) -> str:
    body = dict(copy.deepcopy(OPENAI_BATCH_CONNECTOR), **access)
    return _ok(client.post(f"{ML}/connectors/_create", json=body))["connector_id"]


def _group(client, name: str, **access) -> str:
    body = {"name": name, **access}
    return _ok(client.post(f"{ML}/model_groups/_register", json=body))["model_group_id"]


def _model(client, connector_id: str, group_id: str) -> str:
    body = {
        "name": "m",
        "function_name": "remote",
        "connector_id": connector_id,
        "model_group_id": group_id,
    }
    return _ok(client.post(f"{ML}/models/_register?deploy=true", json=body))["model_id"]


def _task(client, model_id: str) -> str:
    path = f"{ML}/models/{model_id}/_batch_predict"
    return _ok(client.post(path, json={"parameters": {}}))["task_id"]


def _ids(client, kind: str, query=None) -> set[str]:
    if kind == "tasks" and query is None:
        # Registering a model makes a REGISTER_MODEL task too: leave those out.
        query = {"term": {"task_type": "BATCH_PREDICTION"}}
    body = {"size": 100, **({"query": query} if query else {})}
    hits = _ok(client.post(f"{ML}/{kind}/_search", json=body))["hits"]["hits"]
    return {hit["_id"] for hit in hits}


@pytest.fixture
def alices_work(alice):
    """Alice's private connector, private model group, model and task."""
    connector_id = _connector(alice)
    group_id = _group(alice, "alice's group")
    model_id = _model(alice, connector_id, group_id)
    return {
        "connector": connector_id,
        "group": group_id,
        "model": model_id,
        "task": _task(alice, model_id),
    }


def test_resources_are_private_to_their_owner_by_default(alice, alices_work):
    connector = _ok(alice.get(f"{ML}/connectors/{alices_work['connector']}"))
    group = _ok(alice.get(f"{ML}/model_groups/{alices_work['group']}"))
    model = _ok(alice.get(f"{ML}/models/{alices_work['model']}"))

    assert connector["owner"] == {"name": "alice", "backend_roles": ["team-a"]}
    assert connector["access"] == "private"
    assert group["owner"]["name"] == "alice"
    assert group["access"] == "private"
    assert model["owner"]["name"] == "alice"
    assert _ok(alice.get(f"{ML}/tasks/{alices_work['task']}"))["state"] == "CREATED"


def test_another_user_gets_403_for_each_of_them_by_id(bob, alices_work):
    for path in (
        f"/connectors/{alices_work['connector']}",
        f"/model_groups/{alices_work['group']}",
        f"/models/{alices_work['model']}",
        f"/tasks/{alices_work['task']}",
    ):
        _forbidden(bob.get(ML + path))


def test_another_user_can_change_nothing_of_them(bob, alices_work):
    connector, model = alices_work["connector"], alices_work["model"]

    _forbidden(bob.put(f"{ML}/connectors/{connector}", json={"description": "x"}))
    _forbidden(bob.delete(f"{ML}/connectors/{connector}"))
    _forbidden(bob.delete(f"{ML}/model_groups/{alices_work['group']}"))
    _forbidden(bob.post(f"{ML}/models/{model}/_undeploy"))
    _forbidden(bob.delete(f"{ML}/models/{model}"))
    _forbidden(bob.post(f"{ML}/models/{model}/_batch_predict", json={}))
    _forbidden(bob.post(f"{ML}/tasks/{alices_work['task']}/_cancel"))
    _forbidden(bob.delete(f"{ML}/tasks/{alices_work['task']}"))


def test_another_user_cannot_build_on_them(bob, alices_work):
    bobs_group = _group(bob, "bob's group")
    bobs_connector = _connector(bob)

    _forbidden(
        bob.post(
            f"{ML}/models/_register",
            json={
                "name": "m",
                "function_name": "remote",
                "connector_id": alices_work["connector"],
                "model_group_id": bobs_group,
            },
        )
    )
    _forbidden(
        bob.post(
            f"{ML}/models/_register",
            json={
                "name": "m",
                "function_name": "remote",
                "connector_id": bobs_connector,
                "model_group_id": alices_work["group"],
            },
        )
    )


def test_searches_show_each_user_only_their_own(alice, bob, admin, alices_work):
    # Given bob's own connector, group, model and task beside alice's
    bobs = {"connector": _connector(bob), "group": _group(bob, "bob's group")}
    bobs["model"] = _model(bob, bobs["connector"], bobs["group"])
    bobs["task"] = _task(bob, bobs["model"])

    # When each searches every index, Then each sees only their own
    for kind, key in (
        ("connectors", "connector"),
        ("model_groups", "group"),
        ("models", "model"),
        ("tasks", "task"),
    ):
        assert _ids(alice, kind) == {alices_work[key]}, kind
        assert _ids(bob, kind) == {bobs[key]}, kind
        assert _ids(admin, kind) == {alices_work[key], bobs[key]}, kind


def test_search_by_the_other_users_ids_finds_nothing(bob, alices_work):
    task_query = {"term": {"model_id": alices_work["model"]}}
    ids_query = {"ids": {"values": [alices_work["task"]]}}

    assert _ids(bob, "tasks", task_query) == set()
    assert _ids(bob, "tasks", ids_query) == set()
    assert _ids(bob, "models", {"term": {"model_group_id": alices_work["group"]}}) == (
        set()
    )


def test_admin_may_read_cancel_and_delete_anything(admin, alices_work):
    task_id = alices_work["task"]

    assert _ok(admin.get(f"{ML}/connectors/{alices_work['connector']}"))
    assert _ok(admin.post(f"{ML}/tasks/{task_id}/_cancel"))["status"] == "OK"
    assert _ok(admin.get(f"{ML}/tasks/{task_id}"))["state"] == "CANCELLING"


def test_restricted_group_is_shared_by_backend_role(client_for, alice, bob):
    # Given a model in a group alice restricts to team-a
    carol = client_for("carol", "team-a", "team-c")
    group_id = _group(alice, "team-a group", access_mode="restricted", **_roles())
    connector_id = _connector(alice, access_mode="public")
    model_id = _model(alice, connector_id, group_id)

    # When carol (team-a) and bob (team-b) use it
    carols_task = _task(carol, model_id)

    # Then carol may use the model and alice sees carol's task; bob may not
    assert _ids(carol, "models") == {model_id}
    assert _ok(alice.get(f"{ML}/tasks/{carols_task}"))["model_id"] == model_id
    _forbidden(bob.get(f"{ML}/models/{model_id}"))
    assert _ids(bob, "tasks") == set()
    assert _ids(bob, "connectors") == {connector_id}  # public


def _roles() -> dict:
    return {"backend_roles": ["team-a"]}


def test_public_group_is_open_to_everyone(alice, bob):
    group_id = _group(alice, "open", access_mode="public")
    model_id = _model(alice, _connector(alice, access_mode="public"), group_id)

    assert _ok(bob.get(f"{ML}/models/{model_id}"))["model_id"] == model_id
    assert _task(bob, model_id)


def test_add_all_backend_roles_restricts_to_the_callers_roles(client_for):
    dave = client_for("dave", "team-d", "team-e")

    group_id = _group(dave, "all roles", add_all_backend_roles=True)

    group = _ok(dave.get(f"{ML}/model_groups/{group_id}"))
    assert group["access"] == "restricted"
    assert group["backend_roles"] == ["team-d", "team-e"]


@pytest.mark.parametrize(
    "access, status, field",
    [
        ({"backend_roles": ["team-b"]}, 403, None),
        ({"access_mode": "private", "backend_roles": ["team-a"]}, 400, "backend_roles"),
        ({"access_mode": "restricted"}, 400, "backend_roles"),
        ({"access_mode": "secret"}, 400, "access_mode"),
        ({"backend_roles": "team-a"}, 400, "backend_roles"),
        ({"backend_roles": [""]}, 400, "backend_roles[0]"),
        (
            {"backend_roles": ["team-a"], "add_all_backend_roles": True},
            400,
            "add_all_backend_roles",
        ),
        ({"add_all_backend_roles": "yes"}, 400, "add_all_backend_roles"),
    ],
)
def test_access_fields_are_checked(alice, access, status, field):
    for path, body in (
        ("/model_groups/_register", {"name": "g"}),
        ("/connectors/_create", copy.deepcopy(OPENAI_BATCH_CONNECTOR)),
    ):
        response = alice.post(ML + path, json=dict(body, **access))

        assert response.status_code == status, response.get_json()
        assert response.get_json()["error"].get("field") == field


def test_admin_cannot_add_all_backend_roles(admin):
    response = admin.post(
        f"{ML}/model_groups/_register",
        json={"name": "g", "add_all_backend_roles": True},
    )

    assert response.status_code == 400
    assert "Admin" in response.get_json()["error"]["reason"]


def test_owner_can_share_a_connector_by_update(alice, bob):
    connector_id = _connector(alice)
    _forbidden(bob.get(f"{ML}/connectors/{connector_id}"))

    _ok(alice.put(f"{ML}/connectors/{connector_id}", json={"access_mode": "public"}))

    shown = _ok(bob.get(f"{ML}/connectors/{connector_id}"))
    assert shown["owner"]["name"] == "alice"
    assert "credential" not in shown


def test_task_of_a_deleted_model_stays_its_owners(alice, bob, alices_work, store):
    # Given alice's finished-with model removed (the finished task stays)
    model_id = alices_work["model"]
    store.transition(alices_work["task"], {"CREATED"}, "CANCELLED")
    _ok(alice.post(f"{ML}/models/{model_id}/_undeploy"))
    _ok(alice.delete(f"{ML}/models/{model_id}"))

    # Then the task is still alice's and still not bob's
    assert _ok(alice.get(f"{ML}/tasks/{alices_work['task']}"))["model_id"] == model_id
    _forbidden(bob.get(f"{ML}/tasks/{alices_work['task']}"))


def test_connector_made_private_stops_other_users_models(alice, bob):
    # Given bob's model on alice's public connector
    connector_id = _connector(alice, access_mode="public")
    model_id = _model(bob, connector_id, _group(bob, "bobs"))
    assert bob.post(f"{ML}/models/{model_id}/_batch_predict", json={}).status_code == (
        200
    )

    # When alice makes the connector private
    _ok(alice.put(f"{ML}/connectors/{connector_id}", json={"access_mode": "private"}))

    # Then bob's model no longer spends alice's credential, and alice's
    # refused delete does not name bob's model
    _forbidden(bob.post(f"{ML}/models/{model_id}/_batch_predict", json={}))
    refused = alice.delete(f"{ML}/connectors/{connector_id}")
    assert refused.status_code == 400
    assert model_id not in refused.get_json()["error"]["reason"]
    assert "1 more" in refused.get_json()["error"]["reason"]
