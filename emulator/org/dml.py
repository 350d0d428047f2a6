"""DML on the org for Bulk API 2.0: one job's column plan, then prepare/apply per transaction.

Why two phases: the processing model (``emulator.bulk2.processing``) must know which rows a
transaction will lock (each Opportunity's parent Account, and the record itself on update/delete)
before it runs, and only writes at commit time. ``prepare`` does the reads and validation of one
200-record chunk; ``apply`` writes the rows that survived (minus any lock failures) in one SQLite
transaction with ``executemany``. The hot path keeps rows as the CSV parser's lists and values as
one dict per row; everything per-column is resolved once per job in ``ColumnPlan``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator.org import errors
from emulator.org.errors import RecordError
from emulator.org.models import OrgModel
from emulator.org.schema import SObjectDef, sobject
from emulator.org.values import Converter, converter_for, now_text

NULL = "#N/A"
OPERATIONS = ("insert", "upsert", "update", "delete", "hardDelete")
_STAGE_FORECAST = {"Closed Won": "Closed", "Closed Lost": "Omitted"}
_MAX_PARAMS = 900  # stay far below SQLite's variable limit in IN (...) lookups


class HeaderError(Exception):
    """The CSV header cannot be used: the whole job fails with this ``errorMessage``."""


@dataclass(frozen=True, eq=False)  # identity hash: hashing the schema per row was the hot spot
class Relation:
    """A ``Account.ExternalId__c``-style column: set ``lookup`` by the parent's key field."""

    index: int
    lookup: str  # field on this object, e.g. AccountId
    target: SObjectDef
    key: str  # key field on the target, e.g. ExternalId__c


@dataclass
class ColumnPlan:
    """How one job's header maps onto fields; built once, used for every chunk."""

    obj: SObjectDef
    operation: str
    external_id: str | None
    header: list[str]
    fields: list[tuple[int, str, Converter]] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    id_index: int | None = None
    key_index: int | None = None
    read_only: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def build(
        cls, obj: SObjectDef, operation: str, external_id: str | None, header: Sequence[str]
    ) -> ColumnPlan:
        """Resolve header tokens; an unknown one fails the job as Salesforce does."""
        plan = cls(obj, operation, external_id, list(header))
        for index, token in enumerate(header):
            name = token.strip()
            if "." in name:
                plan._add_relation(index, name)
                continue
            f = obj.field(name)
            if f is None:
                raise HeaderError(f"InvalidBatch : Field name not found : {token}")
            if f.name == "Id":
                plan.id_index = index
            elif not f.writable:
                plan.read_only.append((index, f.name))
            else:
                plan.fields.append((index, f.name, converter_for(f)))
            if external_id and f.name.lower() == external_id.lower():
                plan.key_index = index
        return plan

    def _add_relation(self, index: int, token: str) -> None:
        rel_name, _, key_name = token.partition(".")
        lookup = self.obj.relationship(rel_name)
        target = sobject(lookup.reference_to[0]) if lookup and lookup.reference_to else None
        key = target.field(key_name) if target else None
        if lookup is None or target is None or key is None or not key.id_lookup:
            raise HeaderError(f"InvalidBatch : Field name not found : {token}")
        self.relations.append(Relation(index, lookup.name, target, key.name))


@dataclass
class Prepared:
    """One chunk after validation and reads, ready for locking and ``apply``.

    ``actions`` are ``(pos, kind, record_id, values)`` with kind ``I``/``U``/``D``; ``locks``
    are ``(pos, keys)`` in row order: the rows a transaction must hold to write that record.
    """

    errors: dict[int, str]
    actions: list[tuple[int, str, str | None, dict[str, object]]]
    locks: list[tuple[int, tuple[str, ...]]]


@dataclass
class Applied:
    """Outcome of one chunk: ``(pos, id, created)`` successes and ``pos -> sf__Error``."""

    successes: list[tuple[int, str, bool]]
    errors: dict[int, str]


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + _MAX_PARAMS] for i in range(0, len(items), _MAX_PARAMS)]


class DmlExecutor:
    """Applies one job's chunks to the org. Not thread-safe: one per processing thread."""

    def __init__(self, org: OrgModel, plan: ColumnPlan, duplicate_keys: frozenset[str]):
        self.org = org
        self.plan = plan
        self.obj = plan.obj
        self.duplicate_keys = duplicate_keys
        self.required = [f.name for f in plan.obj.fields if f.required_on_create]
        self.non_nillable = {
            f.name for f in plan.obj.fields if not f.nillable and f.writable and f.type != "boolean"
        }
        self.parent_field = "AccountId" if plan.obj.field("AccountId") else None
        # Lookups given directly as id columns (relation columns are checked when resolved).
        direct = {name for _, name, _ in plan.fields}
        self.references = [
            (f.name, sobject(f.reference_to[0]))
            for f in plan.obj.fields
            if f.name in direct and f.reference_to and sobject(f.reference_to[0])
        ]
        self.unique_key = next((f.name for f in plan.obj.fields if f.unique), None)
        # Parent keys resolved earlier in this job (parents are not changed by the job itself).
        self._parents: dict[tuple[int, str], str] = {}

    # ----------------------------------------------------------------- reads
    def _lookup(self, obj: SObjectDef, key: str, values: list[str], extra: str = "") -> dict:
        """``value -> (Id, extra, IsDeleted)`` for rows of ``obj`` whose ``key`` is in ``values``."""
        conn = self.org.conn()
        found: dict[str, tuple] = {}
        cols = f'"{key}", "Id", "IsDeleted"' + (f', "{extra}"' if extra else "")
        for part in _chunks(values):
            marks = ",".join("?" * len(part))
            sql = f'SELECT {cols} FROM {obj.table} WHERE "{key}" IN ({marks})'
            for row in conn.execute(sql, part):
                # A live record wins over a deleted one with the same key.
                if row[0] not in found or found[row[0]][1]:
                    found[row[0]] = row[1:]
        return found

    # --------------------------------------------------------------- prepare
    def prepare(self, rows: Sequence[Sequence[str]]) -> Prepared:
        plan = self.plan
        errs: dict[int, str] = {}
        values_by_pos: dict[int, dict[str, object]] = {}
        pending_rel: list[tuple[int, Relation, str]] = []
        fields = plan.fields
        for pos, row in enumerate(rows):
            if len(row) != len(plan.header):
                errs[pos] = str(
                    RecordError("INVALID_FIELD", "Number of fields in row does not match header")
                )
                continue
            values: dict[str, object] = {}
            try:
                for index, name, convert in fields:
                    text = row[index]
                    if text:
                        values[name] = None if text == NULL else convert(text)
                for index, name in plan.read_only:
                    if row[index]:
                        raise errors.not_writable([name])
            except RecordError as exc:
                errs[pos] = str(exc)
                continue
            for rel in plan.relations:
                text = row[rel.index]
                if text == NULL:
                    values[rel.lookup] = None
                elif text:
                    pending_rel.append((pos, rel, text))
            values_by_pos[pos] = values
        if pending_rel:
            self._resolve_relations(pending_rel, values_by_pos, errs)
        self._check_references(values_by_pos, errs)
        op = plan.operation
        if op == "insert":
            return self._prepare_insert(rows, values_by_pos, errs)
        if op == "upsert":
            return self._prepare_upsert(rows, values_by_pos, errs)
        return self._prepare_by_id(rows, values_by_pos, errs)

    def _resolve_relations(
        self,
        pending: list[tuple[int, Relation, str]],
        values_by_pos: dict[int, dict[str, object]],
        errs: dict[int, str],
    ) -> None:
        cache = self._parents
        by_rel: dict[Relation, set[str]] = {}
        for _, rel, text in pending:
            if (rel.index, text) not in cache:
                by_rel.setdefault(rel, set()).add(text)
        for rel, values in by_rel.items():
            for key, hit in self._lookup(rel.target, rel.key, list(values)).items():
                if not hit[1]:
                    cache[(rel.index, key)] = hit[0]
        for pos, rel, text in pending:
            if pos in errs:
                continue
            parent = cache.get((rel.index, text))
            if parent is None:
                errs[pos] = str(errors.foreign_key_not_found(text, rel.key, rel.target.name))
                values_by_pos.pop(pos, None)
            else:
                values_by_pos[pos][rel.lookup] = parent

    def _check_references(
        self, values_by_pos: dict[int, dict[str, object]], errs: dict[int, str]
    ) -> None:
        """Lookups given as ids must name a live record of the referenced object."""
        for name, target in self.references:
            assert target is not None
            wanted = {v[name] for v in values_by_pos.values() if v.get(name)}
            if not wanted:
                continue
            live = {
                k
                for k, hit in self._lookup(target, "Id", [str(w) for w in wanted]).items()
                if not hit[1]
            }
            for pos in [p for p, v in values_by_pos.items() if v.get(name) and v[name] not in live]:
                errs[pos] = str(errors.invalid_cross_reference())
                del values_by_pos[pos]

    def _missing_required(self, values: dict[str, object]) -> RecordError | None:
        missing = [n for n in self.required if values.get(n) is None]
        return errors.required_missing(missing) if missing else None

    def _nulled_required(self, values: dict[str, object]) -> RecordError | None:
        nulled = [n for n in self.non_nillable if n in values and values[n] is None]
        return errors.required_missing(sorted(nulled)) if nulled else None

    def _parent_keys(self, values: dict[str, object], old_parent: object = None) -> tuple[str, ...]:
        if self.parent_field is None:
            return ()
        new = values.get(self.parent_field, old_parent)
        keys = [str(k) for k in (old_parent, new) if k]
        return tuple(dict.fromkeys(keys))

    def _prepare_insert(self, rows, values_by_pos, errs) -> Prepared:  # type: ignore[no-untyped-def]
        actions: list[tuple[int, str, str | None, dict[str, object]]] = []
        locks: list[tuple[int, tuple[str, ...]]] = []
        id_index = self.plan.id_index
        for pos, values in values_by_pos.items():
            if pos in errs:
                continue
            if id_index is not None and rows[pos][id_index]:
                errs[pos] = str(
                    RecordError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "cannot specify Id in an insert call",
                        ["Id"],
                    )
                )
                continue
            problem = self._missing_required(values)
            if problem:
                errs[pos] = str(problem)
                continue
            actions.append((pos, "I", None, values))
            locks.append((pos, self._parent_keys(values)))
        return Prepared(errs, actions, locks)

    def _prepare_upsert(self, rows, values_by_pos, errs) -> Prepared:  # type: ignore[no-untyped-def]
        plan = self.plan
        key_field = plan.external_id or "Id"
        by_id = key_field.lower() == "id"
        key_index = plan.id_index if by_id else plan.key_index
        keys: dict[int, str] = {}
        for pos in list(values_by_pos):
            if pos in errs:
                continue
            key = rows[pos][key_index] if key_index is not None else ""
            if not key or key == NULL:
                errs[pos] = str(errors.missing_argument(f"{key_field} not specified"))
            elif key in self.duplicate_keys:
                errs[pos] = str(errors.duplicate_in_job(key))
            else:
                keys[pos] = key
        column = "Id" if by_id else key_field
        existing = self._lookup(
            self.obj, column, list(set(keys.values())), extra=self.parent_field or ""
        )
        actions: list[tuple[int, str, str | None, dict[str, object]]] = []
        locks: list[tuple[int, tuple[str, ...]]] = []
        for pos, key in keys.items():
            values = values_by_pos[pos]
            hit = existing.get(key)
            if hit is not None and not hit[1]:
                problem = self._nulled_required(values)
                if problem:
                    errs[pos] = str(problem)
                    continue
                old_parent = hit[2] if self.parent_field else None
                actions.append((pos, "U", hit[0], values))
                locks.append((pos, (*self._parent_keys(values, old_parent), hit[0])))
                continue
            if by_id:
                errs[pos] = str(errors.invalid_cross_reference())
                continue
            problem = self._missing_required(values)
            if problem:
                errs[pos] = str(problem)
                continue
            values[key_field] = key
            actions.append((pos, "I", None, values))
            locks.append((pos, self._parent_keys(values)))
        return Prepared(errs, actions, locks)

    def _prepare_by_id(self, rows, values_by_pos, errs) -> Prepared:  # type: ignore[no-untyped-def]
        op = self.plan.operation
        verb = "an update" if op == "update" else "a delete"
        id_index = self.plan.id_index
        ids: dict[int, str] = {}
        for pos in values_by_pos:
            if pos in errs:
                continue
            text = rows[pos][id_index] if id_index is not None else ""
            if not text or text == NULL:
                errs[pos] = str(errors.missing_argument(f"Id not specified in {verb} call"))
                continue
            if len(text) not in (15, 18) or not text.isalnum():
                errs[pos] = str(errors.malformed_id(f"{self.obj.label} ID", "Id", text))
                continue
            ids[pos] = text
        from emulator.org.values import to18

        wanted = {pos: to18(text) for pos, text in ids.items()}
        existing = self._lookup(
            self.obj, "Id", list(set(wanted.values())), extra=self.parent_field or ""
        )
        kind = "U" if op == "update" else "D"
        actions: list[tuple[int, str, str | None, dict[str, object]]] = []
        locks: list[tuple[int, tuple[str, ...]]] = []
        for pos, record_id in wanted.items():
            hit = existing.get(record_id)
            if hit is None:
                errs[pos] = str(errors.invalid_cross_reference())
                continue
            if hit[1] and op != "hardDelete":
                errs[pos] = str(errors.entity_is_deleted())
                continue
            values = values_by_pos[pos] if kind == "U" else {}
            problem = self._nulled_required(values) if kind == "U" else None
            if problem:
                errs[pos] = str(problem)
                continue
            old_parent = hit[2] if self.parent_field else None
            actions.append((pos, kind, record_id, values))
            locks.append((pos, (*self._parent_keys(values, old_parent), record_id)))
        return Prepared(errs, actions, locks)

    # ----------------------------------------------------------------- apply
    def apply(
        self, prepared: Prepared, failed: dict[int, str] | None = None, *, fresh: bool = False
    ) -> Applied:
        """Write every action not in ``failed`` in one transaction; return per-row outcomes.

        ``fresh``: nothing was written since ``prepare`` (zero-cost processing), so an upsert's
        inserts need no second check that their keys are still free.
        """
        errs = dict(prepared.errors)
        if failed:
            errs.update(failed)
        inserts = []
        updates = []
        deletes = []
        for action in prepared.actions:
            if action[0] in errs:
                continue
            kind = action[1]
            if kind == "I":
                inserts.append(action)
            elif kind == "U":
                updates.append(action)
            else:
                deletes.append(action)
        successes: list[tuple[int, str, bool]] = []
        conn = self.org.conn()
        stamp = now_text()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if inserts:
                recheck = not (fresh and self.plan.operation == "upsert")
                self._insert(conn, inserts, stamp, successes, errs, recheck)
            if updates:
                self._update(conn, updates, stamp, successes)
            if deletes:
                self._delete(conn, deletes, successes)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return Applied(successes, errs)

    def _insert(self, conn, actions, stamp, successes, errs, recheck) -> None:  # type: ignore[no-untyped-def]
        obj = self.obj
        key_field = self.unique_key
        ids = self.org.allocate(obj, len(actions))
        if key_field and recheck:
            actions, ids = self._drop_duplicate_keys(actions, ids, key_field, errs)
        if not actions:
            return
        columns = [name for _, name, _ in self.plan.fields]
        for rel in self.plan.relations:
            if rel.lookup not in columns:
                columns.append(rel.lookup)
        if key_field and key_field not in columns:
            columns.append(key_field)
        user = self.org.user_id
        has_private = obj.field("IsPrivate") is not None
        has_forecast = obj.field("ForecastCategoryName") is not None
        for extra in ("IsPrivate", "ForecastCategoryName", "OwnerId"):
            if obj.field(extra) is not None and extra not in columns:
                columns.append(extra)
        params = []
        private_at = columns.index("IsPrivate") + 2 if has_private else -1
        forecast_at = columns.index("ForecastCategoryName") + 2 if has_forecast else -1
        owner_at = columns.index("OwnerId") + 2
        audit = (stamp, user, stamp, user, stamp)
        for (pos, _, _, values), (n, record_id) in zip(actions, ids, strict=True):
            get = values.get
            row: list[object] = [n, record_id, *map(get, columns)]
            if private_at >= 0:
                row[private_at] = row[private_at] or 0
            if forecast_at >= 0 and row[forecast_at] is None:
                row[forecast_at] = _STAGE_FORECAST.get(str(get("StageName")), "Pipeline")
            row[owner_at] = row[owner_at] or user
            row.extend(audit)
            params.append(row)
            successes.append((pos, record_id, True))
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * (len(columns) + 7))
        conn.executemany(
            f'INSERT INTO {obj.table} (_n, "Id", {names}, "CreatedDate", "CreatedById", '
            f'"LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted") '
            f"VALUES ({marks}, 0)",
            params,
        )

    def _drop_duplicate_keys(self, actions, ids, key_field, errs):  # type: ignore[no-untyped-def]
        """Inserts whose unique key is held by a live record (or an earlier row) fail.

        Uniqueness is enforced here, not by a SQLite UNIQUE constraint, because a record in the
        recycle bin does not hold its unique value in an org. The first row of a chunk wins.
        """
        keys = [str(a[3][key_field]) for a in actions if a[3].get(key_field) is not None]
        if not keys:
            return actions, ids
        taken = {
            k: hit[0] for k, hit in self._lookup(self.obj, key_field, keys).items() if not hit[1]
        }
        kept, kept_ids = [], []
        for action, new in zip(actions, ids, strict=True):
            key = action[3].get(key_field)
            if key is not None and str(key) in taken:
                errs[action[0]] = str(errors.duplicate_value(key_field, taken[str(key)]))
                continue
            if key is not None:
                taken[str(key)] = new[1]
            kept.append(action)
            kept_ids.append(new)
        return kept, kept_ids

    def _update(self, conn, actions, stamp, successes) -> None:  # type: ignore[no-untyped-def]
        groups: dict[tuple[str, ...], list[list[object]]] = {}
        user = self.org.user_id
        for pos, _, record_id, values in actions:
            cols = tuple(values)
            params = [values[c] for c in cols]
            params.extend((stamp, user, stamp, record_id))
            groups.setdefault(cols, []).append(params)
            successes.append((pos, record_id, False))
        for cols, params in groups.items():
            sets = "".join(f'"{c}" = ?, ' for c in cols)
            conn.executemany(
                f'UPDATE {self.obj.table} SET {sets}"LastModifiedDate" = ?, '
                '"LastModifiedById" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                params,
            )

    def _delete(self, conn, actions, successes) -> None:  # type: ignore[no-untyped-def]
        ids = [(a[2],) for a in actions]
        hard = self.plan.operation == "hardDelete"
        table = self.obj.table
        children = [
            (child, f.name)
            for child in _children(self.obj)
            for f in child.fields
            if self.obj.name in f.reference_to
        ]
        if hard:
            for child, fk in children:
                conn.executemany(f'DELETE FROM {child.table} WHERE "{fk}" = ?', ids)
            conn.executemany(f'DELETE FROM {table} WHERE "Id" = ?', ids)
        else:
            # Soft delete: to the recycle bin (queryAll still sees it); children cascade.
            for child, fk in children:
                conn.executemany(f'UPDATE {child.table} SET "IsDeleted" = 1 WHERE "{fk}" = ?', ids)
            conn.executemany(f'UPDATE {table} SET "IsDeleted" = 1 WHERE "Id" = ?', ids)
        successes.extend((a[0], a[2], False) for a in actions)


def _children(obj: SObjectDef) -> list[SObjectDef]:
    from emulator.org.schema import SOBJECTS

    return [
        child
        for child in SOBJECTS.values()
        if child is not obj and any(obj.name in f.reference_to for f in child.fields)
    ]
