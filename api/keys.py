"""API keys: made, looked up, listed and revoked; kept in Redis by hash only.

A token is shown once, when it is made. Redis holds the SHA-256 of it (a
token carries 256 random bits, so a fast hash is enough: there is nothing to
guess) with the key's user, backend roles and admin flag.

    python -m api.keys create --user alice --backend-role team-a [--admin]
    python -m api.keys list
    python -m api.keys revoke KEY_ID
"""

import argparse
import hashlib
import json
import secrets
import sys
from dataclasses import dataclass

import redis

from common.keys import Keys
from common.settings import Settings
from common.store import now_ms

TOKEN_PREFIX = "bpk_"


@dataclass(frozen=True)
class Principal:
    """Who sends a request: the user behind an API key."""

    user: str | None
    backend_roles: tuple[str, ...] = ()
    admin: bool = False
    key_id: str | None = None

    def owner(self) -> dict | None:
        """The ``owner`` field of what this caller creates (ML Commons' User)."""
        if self.user is None:
            return None
        return {"name": self.user, "backend_roles": list(self.backend_roles)}


#: The caller when authentication is off: may do anything, owns nothing.
ANONYMOUS = Principal(user=None, admin=True)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiKeys:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> "ApiKeys":
        client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        return cls(client, Keys(settings.key_prefix))

    def create(
        self, user: str, backend_roles: list[str], admin: bool = False
    ) -> tuple[str, str]:
        """Make a key; return its id and its token (the only time it is seen)."""
        if not user.strip():
            raise ValueError("a key needs a user name")
        key_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        digest = _digest(token)
        record = {
            "key_id": key_id,
            "user": user,
            "backend_roles": json.dumps(sorted(set(backend_roles))),
            "admin": "1" if admin else "0",
            "created_time": now_ms(),
        }
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.api_key(digest), mapping=record)
            pipe.hset(self.keys.api_keys, key_id, digest)
            pipe.execute()
        return key_id, token

    def lookup(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        record = self.redis.hgetall(self.keys.api_key(_digest(token)))
        if not record:
            return None
        return Principal(
            user=record["user"],
            backend_roles=tuple(json.loads(record["backend_roles"])),
            admin=record["admin"] == "1",
            key_id=record["key_id"],
        )

    def list(self) -> list[dict]:
        digests = self.redis.hgetall(self.keys.api_keys)
        rows = []
        for digest in digests.values():
            record = self.redis.hgetall(self.keys.api_key(digest))
            if record:
                record["backend_roles"] = json.loads(record["backend_roles"])
                record["admin"] = record["admin"] == "1"
                record["created_time"] = int(record["created_time"])
                rows.append(record)
        return sorted(rows, key=lambda row: row["created_time"])

    def revoke(self, key_id: str) -> bool:
        digest = self.redis.hget(self.keys.api_keys, key_id)
        if digest is None:
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.api_key(digest))
            pipe.hdel(self.keys.api_keys, key_id)
            pipe.execute()
        return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.keys")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key and print its token")
    create.add_argument("--user", required=True)
    create.add_argument("--backend-role", action="append", default=[])
    create.add_argument("--admin", action="store_true")
    commands.add_parser("list", help="list keys (never their tokens)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    api_keys = ApiKeys.from_settings(Settings.from_env())
    if args.command == "create":
        key_id, token = api_keys.create(args.user, args.backend_role, args.admin)
        print(f"key {key_id} for {args.user}; the token is shown only now:")
        print(token)
        return 0
    if args.command == "list":
        for row in api_keys.list():
            print(json.dumps(row))
        return 0
    if not api_keys.revoke(args.key_id):
        print(f"no key {args.key_id}", file=sys.stderr)
        return 1
    print(f"key {args.key_id} revoked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
