"""Who may see and use what, as ML Commons' access control decides it.

Model groups and connectors carry an ``owner``, an ``access`` mode and
``backend_roles``: ``public`` is open to every caller, ``private`` to its owner,
``restricted`` to its owner and to callers sharing one of its backend roles.
A model is used through its model group; a task through its model (the task's
owner when the model is gone). Admins may do anything. Only the owner or an
admin may change or delete a connector or a model group.
"""

from api.keys import Principal
from common.errors import Forbidden, InvalidRequest
from common.store import Store
from common.validation import describe, expect, expect_choice

ACCESS_MODES = ("public", "private", "restricted")
ACCESS_INPUT_FIELDS = ("access_mode", "backend_roles", "add_all_backend_roles")


def access_fields(body: dict, caller: Principal, kind: str) -> dict:
    """``owner``, ``access`` and ``backend_roles`` of a new model group or
    connector, checked against ML Commons' rules for ``caller``."""
    mode = expect(body.get("access_mode"), str, "access_mode", required=False)
    if mode is not None:
        expect_choice(mode, ACCESS_MODES, "access_mode")
    roles = _roles(body.get("backend_roles"))
    add_all = expect(
        body.get("add_all_backend_roles"),
        bool,
        "add_all_backend_roles",
        required=False,
        default=False,
    )
    if caller.user is None:
        # Authentication is off: nobody owns anything, so only shapes matter.
        return {"owner": None, "access": mode or "public", "backend_roles": roles}
    if add_all:
        roles = _all_roles(roles, caller, kind)
    mode = mode or ("restricted" if roles else "private")
    _check_roles(mode, roles, caller, kind)
    return {"owner": caller.owner(), "access": mode, "backend_roles": roles}


def _roles(value) -> list[str]:
    roles = expect(value, list, "backend_roles", required=False, default=[])
    for i, role in enumerate(roles):
        if not isinstance(role, str) or not role:
            raise InvalidRequest(
                f"backend_roles[{i}] must be a non-empty string, got {describe(role)}",
                f"backend_roles[{i}]",
            )
    return sorted(set(roles))


def _all_roles(roles: list[str], caller: Principal, kind: str) -> list[str]:
    if roles:
        raise InvalidRequest(
            "You cannot specify backend roles and add all backend roles at the "
            "same time.",
            "add_all_backend_roles",
        )
    if caller.admin:
        raise InvalidRequest(
            f"Admin users cannot add all backend roles to a {kind}.",
            "add_all_backend_roles",
        )
    if not caller.backend_roles:
        raise InvalidRequest(
            f"You must have at least one backend role to register a restricted {kind}.",
            "add_all_backend_roles",
        )
    return sorted(caller.backend_roles)


def _check_roles(mode: str, roles: list[str], caller: Principal, kind: str):
    if mode != "restricted" and roles:
        raise InvalidRequest(
            f"You can specify backend roles only for a {kind} with the restricted "
            f"access mode, got access_mode {mode!r}.",
            "backend_roles",
        )
    if mode == "restricted" and not roles:
        raise InvalidRequest(
            f"You must specify at least one backend role or set "
            f"add_all_backend_roles to true for a restricted {kind}.",
            "backend_roles",
        )
    foreign = sorted(set(roles) - set(caller.backend_roles))
    if foreign and not caller.admin:
        raise Forbidden(
            f"You don't have the backend roles specified: {', '.join(foreign)}"
        )


def may_use(doc: dict, caller: Principal) -> bool:
    """Whether ``caller`` may read and use a model group or a connector."""
    if caller.admin or doc.get("access", "public") == "public":
        return True
    if _owns(doc, caller):
        return True
    if doc.get("access") == "restricted":
        return bool(set(doc.get("backend_roles") or ()) & set(caller.backend_roles))
    return False


def may_change(doc: dict, caller: Principal) -> bool:
    """Whether ``caller`` may update or delete a model group or a connector."""
    return caller.admin or _owns(doc, caller)


def _owns(doc: dict, caller: Principal) -> bool:
    owner = doc.get("owner") or {}
    return caller.user is not None and owner.get("name") == caller.user


def may_use_model(store: Store, model: dict, caller: Principal, groups=None):
    """Whether ``caller`` may use ``model``: through its model group."""
    if caller.admin:
        return True
    group_id = model.get("model_group_id")
    group = (
        groups.get(group_id)
        if groups is not None
        else store.get_document("model_group", group_id or "")
    )
    if group is None:
        return _owns(model, caller)
    return may_use(group, caller)


def may_use_task(store: Store, task: dict, caller: Principal) -> bool:
    if caller.admin:
        return True
    model = store.get_document("model", task.get("model_id") or "")
    if model is None:
        return caller.user is not None and task.get("_owner") == caller.user
    return may_use_model(store, model, caller)


def visible_models(store: Store, caller: Principal) -> list[tuple[str, dict]]:
    models = store.all_documents("model")
    if caller.admin:
        return models
    groups = dict(store.all_documents("model_group"))
    return [(i, m) for i, m in models if may_use_model(store, m, caller, groups)]


def require(allowed: bool, what: str) -> None:
    """Raise the 403 ML Commons answers when the caller lacks a right."""
    if not allowed:
        raise Forbidden(
            f"User doesn't have privilege to perform this operation on this {what}"
        )
