"""`cartwise rules`: the shop's merchandising rules and synonyms.

list, validate FILE (every problem with its line), load FILE (a new version), delete ID,
versions, restore N, dry-run (one answer before and after a change) and
suggest-synonyms (mined from the relation graph and from queries that led to the same
purchases; accepted by id).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cartwise.cli.keys import JsonOption, StoreOption
from cartwise.cli.output import console, err
from cartwise.engine import DEFAULT_STORE, Engine
from cartwise.errors import ValidationError
from cartwise.rules.document import RuleFileError, read_document
from cartwise.rules.dryrun import dry_run
from cartwise.rules.mining import DEFAULT_WINDOW_MS
from cartwise.rules.ruleset import parse_rule_set
from cartwise.rules.suggestions import SynonymSuggestion
from cartwise.rules.synonym_sources import ALL, SuggestionSettings
from cartwise.rules.synonym_sources import accept as accept_suggestions
from cartwise.rules.synonym_sources import suggest as suggest_from

rules_app = typer.Typer(help="Merchandising rules and synonyms: list, validate, load, dry-run, versions, "
                             "suggest synonyms.", no_args_is_help=True)
FileArgument = Annotated[Path, typer.Argument(help="a rule document (.yaml, .yml or .json)", exists=True,
                                              dir_okay=False, readable=True)]


def _format(path: Path) -> str | None:
    return "json" if path.suffix.lower() == ".json" else None


def _open(store: str) -> Engine:
    return Engine.open(store, create=False, log_impressions=False)


@rules_app.command("list")
def list_rules(store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """The live rules and synonyms."""
    rules = _open(store).rules.current()
    if as_json:
        console.print_json(json.dumps({"version": rules.version, **rules.document}, ensure_ascii=False, default=str))
        return
    table = Table(title=f"rules of {store}, version {rules.version}")
    for column in ("id", "kind", "what", "where", "on"):
        table.add_column(column)
    for rule in rules.rules:
        table.add_row(rule.rule_id, rule.kind, rule.action.describe(), rule.scope.describe(),
                      "yes" if rule.enabled else "no")
    for synonym in rules.synonyms.synonyms:
        table.add_row(synonym.synonym_id, "synonym", synonym.describe(), "search", "yes" if synonym.enabled else "no")
    console.print(table)


@rules_app.command("validate")
def validate(file: FileArgument, as_json: JsonOption = False) -> None:
    """Check a rule document without loading it: every problem with its line and reason."""
    try:
        rules = parse_rule_set(file.read_text(encoding="utf-8"), source=str(file), format=_format(file))
    except RuleFileError as exc:
        if as_json:
            console.print_json(json.dumps(exc.to_dict(), ensure_ascii=False))
        else:
            for problem in exc.problems:
                line = f"{problem.line}:" if problem.line is not None else ""
                err.print(f"{file}:{line} {problem.where}: {problem.reason}" if problem.where
                          else f"{file}:{line} {problem.reason}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    summary = {"file": str(file), "valid": True, "rules": len(rules.rules), "synonyms": len(rules.synonyms)}
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        console.print(f"{file}: valid ({len(rules.rules)} rules, {len(rules.synonyms)} synonyms)", markup=False, soft_wrap=True)


@rules_app.command("load")
def load(file: FileArgument, store: StoreOption = DEFAULT_STORE,
         note: Annotated[str, typer.Option(help="why, kept with the version")] = "") -> None:
    """Replace the live rules with a document's (a new version; servers pick it up within a second)."""
    rules = _open(store).rules.load_text(file.read_text(encoding="utf-8"), source=f"file:{file}",
                                         format=_format(file), note=note)
    console.print(f"loaded {file} as rules version {rules.version} ({len(rules.rules)} rules, "
                  f"{len(rules.synonyms)} synonyms)", markup=False, soft_wrap=True)


@rules_app.command("delete")
def delete(rule_id: str, store: StoreOption = DEFAULT_STORE) -> None:
    """Delete one rule or synonym (a new version)."""
    rules = _open(store).rules.delete(rule_id, source="cli")
    console.print(f"deleted {rule_id}: rules version {rules.version}", markup=False, soft_wrap=True)


@rules_app.command("versions")
def versions(store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """Every saved version of the rules, oldest first."""
    book = _open(store).rules
    found = [v.summary() for v in book.list_versions()]
    if as_json:
        console.print_json(json.dumps(found))
        return
    table = Table(title=f"rule versions of {store} (live: {book.current().version})")
    for column in ("version", "created_ms", "source", "note", "rules", "synonyms"):
        table.add_column(column)
    for v in found:
        table.add_row(*(str(v[c]) for c in ("version", "created_ms", "source", "note", "rules", "synonyms")))
    console.print(table)


@rules_app.command("restore")
def restore(version: int, store: StoreOption = DEFAULT_STORE) -> None:
    """Make an earlier version's rules live again (as a new version)."""
    rules = _open(store).rules.roll_back(version, source="cli")
    console.print(f"restored version {version} as rules version {rules.version}", markup=False, soft_wrap=True)


@rules_app.command("dry-run")
def dry_run_command(
    store: StoreOption = DEFAULT_STORE,
    rule: Annotated[str | None, typer.Option(help="the rule or synonym to try, as JSON or YAML text")] = None,
    rule_file: Annotated[Path | None, typer.Option("--file", help="a file holding the one rule to try")] = None,
    remove: Annotated[str | None, typer.Option(help="the id of a rule to try without")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="try it on this search")] = None,
    user: Annotated[str | None, typer.Option(help="on this shopper's recommendations (or their search)")] = None,
    item: Annotated[str | None, typer.Option(help="on this item's similar items (or its --placement)")] = None,
    placement: Annotated[str, typer.Option(help="with --item: similar, bundle or alternatives")] = "similar",
    k: int = 10,
    as_json: JsonOption = False,
) -> None:
    """One answer before and after a rule change, without saving it."""
    entry = None
    text = rule_file.read_text(encoding="utf-8") if rule_file is not None else rule
    if text is not None:
        entry = read_document(text, source="--rule").value
        if isinstance(entry, list) and len(entry) == 1:
            entry = entry[0]
        if not isinstance(entry, dict):
            raise ValidationError("--rule must be one rule: a mapping with id, kind and the kind's fields", field="rule")
    result = dry_run(_open(store), rule=entry, remove=remove, query=query, user_id=user, item_id=item,
                     placement=placement, k=k)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    table = Table(title=f"dry run: {result.answer}")
    for column in ("#", "before", "after", "rules after"):
        table.add_column(column)
    for n in range(max(len(result.before), len(result.after))):
        before = result.before[n].item_id if n < len(result.before) else ""
        after = result.after[n] if n < len(result.after) else None
        table.add_row(str(n + 1), before, after.item_id if after else "", ", ".join(after.rules) if after else "")
    console.print(table)
    for touch in result.rules_after:
        console.print(f"{touch.rule_id} ({touch.kind}): {'; '.join(touch.effects + touch.conflicts)}", markup=False, soft_wrap=True)
    if result.redirect_after != result.redirect_before:
        console.print(f"redirect: {result.redirect_before} -> {result.redirect_after}", markup=False, soft_wrap=True)


@rules_app.command("suggest-synonyms")
def suggest(
    store: StoreOption = DEFAULT_STORE,
    source: Annotated[str, typer.Option(help="graph (substitutes named differently), purchases (queries that led "
                                             "to the same purchases) or all")] = ALL,
    min_shared: Annotated[int, typer.Option(help="purchases: items bought after both queries, at least")] = 2,
    window_minutes: Annotated[int, typer.Option(help="purchases: a purchase counts for the search this long "
                                                     "before it")] = DEFAULT_WINDOW_MS // 60_000,
    min_pairs: Annotated[int, typer.Option(help="graph: differently worded substitute pairs, at least")] = 3,
    min_lift: Annotated[float, typer.Option(help="graph: times more often than chance, at least")] = 2.0,
    limit: Annotated[int, typer.Option(help="most suggestions per source")] = 50,
    accept: Annotated[list[str] | None, typer.Option(help="save these suggestions (by id) as two-way synonyms")] = None,
    as_json: JsonOption = False,
) -> None:
    """Synonyms suggested by the relation graph and by queries that led to the same
    purchases; accept them by id."""
    engine = _open(store)
    settings = SuggestionSettings(limit=limit, min_shared=min_shared, window_ms=window_minutes * 60_000,
                                  min_pairs=min_pairs, min_lift=min_lift)
    found = suggest_from(engine, source=source, settings=settings)
    if accept:
        _, saved = accept_suggestions(engine, accept, found=found, source="cli")
        for suggestion in saved:
            console.print(f"accepted {suggestion.suggestion_id} ({' = '.join(suggestion.terms)}, from "
                          f"{suggestion.source})", markup=False, soft_wrap=True)
        console.print(f"rules version {engine.rules.current().version}", markup=False, soft_wrap=True)
        return
    if as_json:
        console.print_json(json.dumps([s.to_dict() for s in found], ensure_ascii=False, default=str))
        return
    table = Table(title="suggested synonyms (accept with --accept ID)")
    for column in ("id", "terms", "source", "support", "score", "evidence"):
        table.add_column(column)
    for s in found:
        table.add_row(s.suggestion_id, " = ".join(s.terms), s.source, str(s.support), f"{s.score:.2f}",
                      _evidence(s))
    console.print(table)


def _evidence(suggestion: SynonymSuggestion) -> str:
    if suggestion.source == "graph":
        example = suggestion.evidence["examples"][0]["titles"]
        return (f"{suggestion.evidence['item_pairs']} item pairs, lift {suggestion.evidence['lift']}; "
                f"e.g. {example[0]} / {example[1]}")
    return f"jaccard {suggestion.evidence['jaccard']:.2f}; items {', '.join(suggestion.evidence['items'])}"
