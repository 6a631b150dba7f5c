"""The release report: one self-contained HTML page and its JSON twin.

:func:`build_report` gathers everything a reviewer signing off a synthetic
release needs into one JSON-ready dict; :func:`render_html` turns that dict (and
only that dict, so the page and ``report.json`` show the same numbers) into an
HTML page with its plots embedded as base64 PNG (matplotlib, Agg backend; no
network, no scripts); :func:`write_report` writes both atomically.

Two kinds of figures appear, and the page keeps them apart:

* **DP quantities** -- the privacy claim, the ledger, the release metadata and
  AIM's per-query error bounds. They are computed from the release and the
  ledger only; publishing them costs no privacy. ``public=True`` writes these
  alone and never reads the real table.
* **Internal review** -- fidelity, utility, attacks: computed on the real data
  *without* differential privacy. The page says so at the top; they are for the
  people signing off the release, not for publication.

The audit section (``dpsynth audit --out``) is computed on a public canary
design, not on the real data.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import inspect
import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from dpsynth import __version__
from dpsynth.accounting import NEIGHBOURING, epsilon_from_rho
from dpsynth.attacks.audit import verdict as audit_verdict
from dpsynth.errors import InputError
from dpsynth.evaluate import categorical_strings, evaluate, is_numeric_column, load_schema
from dpsynth.io import atomic_write, dump_json

REPORT_VERSION = 1
INTERNAL_NOTE = ("INTERNAL REVIEW - NOT FOR PUBLICATION. The fidelity, utility and attack figures below are computed "
                 "on the real data without differential privacy: they describe the private data and must not leave "
                 "the team signing off the release. Only the privacy claim, the ledger, the release metadata and "
                 "AIM's error bounds are DP quantities (write those alone with --public).")
PUBLIC_NOTE = ("Public version: only differentially private quantities (the privacy claim, the ledger, the release "
               "metadata and AIM's error bounds). Nothing on this page was computed from the real data outside the "
               "accounted DP release.")
#: TVD levels used to word the "what this data is and is not" section.
TVD_GOOD, TVD_FAIR = 0.05, 0.10
HIST_BINS = 30
TOP_CATEGORIES = 12
REAL_COLOUR, SYNTH_COLOUR = "#1f5f9f", "#e07b28"


# =============================================================================== assembling the numbers

def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (identifies the exact table a report describes)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def privacy_claim(release: dict) -> dict:
    """The release's privacy claim, in numbers and in words (DP quantities only)."""
    eps, delta = float(release["epsilon"]), float(release["delta"])
    neighbouring = release.get("neighbouring", NEIGHBOURING)
    every = release.get("measurements") or []
    learning = [m for m in every if m.get("stage") == "domain learning"]
    measurements = [m for m in every if m.get("stage") != "domain learning"]
    gaussians = [m for m in measurements if "gaussian" in str(m.get("mechanism", ""))]
    selections = [m for m in measurements if m.get("mechanism") == "exponential"]
    by_order: dict[int, int] = {}
    for m in gaussians:
        k = len(m.get("clique") or [])
        by_order[k] = by_order.get(k, 0) + 1
    sigmas = [float(m["sigma"]) for m in gaussians if "sigma" in m]
    parts = [f"{n} {k}-way marginal{'s' if n != 1 else ''}" for k, n in sorted(by_order.items())]
    mech = []
    if gaussians:
        sig = (f"noise standard deviation {min(sigmas):.3g} to {max(sigmas):.3g} counts" if sigmas and
               not math.isclose(min(sigmas), max(sigmas)) else f"noise standard deviation {sigmas[0]:.3g} counts"
               if sigmas else "")
        mech.append(f"{', '.join(parts)} measured with the discrete Gaussian mechanism ({sig})")
    if selections:
        mech.append(f"{len(selections)} selection{'s' if len(selections) != 1 else ''} with the exponential mechanism")
    if learning:
        mech.append(_learning_text(learning))
    mechanism = "; ".join(mech) if mech else "not recorded in the release metadata"
    method = str(release.get("method", "unknown")).upper()
    drafted = schema_drafted(release)
    statement = ("CONDITIONAL CLAIM: the schema's categories and bounds were drafted from the private data and "
                 "declared public by whoever ran the release (--schema-is-public); the guarantee below holds "
                 "only if that domain is public knowledge, since otherwise the categories and bounds reveal values "
                 "of real records. " if drafted else "") + (
        f"This synthetic table was released by {method} on {release.get('created', 'an unrecorded date')} with "
        f"({eps:g}, {delta:g})-differential privacy under {neighbouring} neighbouring: adding or removing any one "
        f"person's record changes the probability of any outcome of the release by at most a factor "
        f"e^{eps:g} = {math.exp(eps):.3g}, except with probability {delta:g}. This holds whatever else an "
        f"attacker knows, for every analysis of the synthetic rows. Accounting in zero-concentrated DP: "
        f"rho = {float(release.get('rho', float('nan'))):.4g}, converted to (epsilon, delta) with the tight "
        f"conversion. Mechanisms: {mechanism}."
    )
    return {
        "epsilon": eps,
        "delta": delta,
        "rho": release.get("rho"),
        "neighbouring": neighbouring,
        "method": release.get("method"),
        "created": release.get("created"),
        "mechanism": mechanism,
        "n_measurements": len(gaussians),
        "n_selections": len(selections),
        "research_rng": bool(release.get("research_rng", False)),
        "schema_drafted_from_data": drafted,
        "statement": statement,
        "research_rng_warning": ("INSECURE research RNG: the noise of this release was drawn from a seeded numpy "
                                 "generator, not OpenDP's samplers. It is for experiments only and must not be "
                                 "published as differentially private.") if release.get("research_rng") else None,
    }


def _learning_text(learning: list[dict]) -> str:
    """How the domain was learned, from the release's domain-learning charges."""
    quantiles = [m for m in learning if m["mechanism"] == "quantile"]
    discovery = [m for m in learning if m["mechanism"] != "quantile"]
    parts = []
    if quantiles:
        parts.append(f"{len(quantiles)} bin edge{'s' if len(quantiles) != 1 else ''} as DP quantiles")
    if discovery:
        delta = sum(float(m.get("delta") or 0.0) for m in discovery)
        parts.append(f"the categories of {len(discovery)} column{'s' if len(discovery) != 1 else ''} by "
                     f"thresholded noisy counts ({', '.join(sorted({m['mechanism'] for m in discovery}))}; "
                     f"approximate DP, delta {delta:.3g} of the release's delta)")
    rho = sum(float(m["rho"]) for m in learning)
    return f"domain learned with DP first (rho {rho:.4g}): {' and '.join(parts)}"


def schema_drafted(release: dict) -> bool:
    """Whether the release's schema was drafted from the data (and released on the user's word that it is public)."""
    return bool((release.get("schema") or {}).get("drafted_from_data"))


def ledger_section(summary: dict) -> dict:
    """The ledger's summary plus what one further release could still claim (DP quantities only)."""
    remaining = float(summary.get("rho_remaining", 0.0))
    delta_left = float(summary["delta"]) - float(summary.get("delta_spent", 0.0))
    return {
        **summary,
        "epsilon_remaining_single_release": epsilon_from_rho(remaining, delta_left) if remaining > 0 else 0.0,
        "n_releases": len(summary.get("releases", [])),
    }


def error_bounds_section(release: dict, n_worst: int = 15) -> dict | None:
    """AIM's per-query error bounds (``workload_error_bounds``), summarised; None when absent."""
    bounds = release.get("workload_error_bounds")
    if not bounds:
        return None
    with_bound = [b for b in bounds if b.get("tvd_bound") is not None]
    tvd = np.array([b["tvd_bound"] for b in with_bound], dtype=float)
    by_kind: dict[str, int] = {}
    for b in bounds:
        by_kind[b.get("kind", "none")] = by_kind.get(b.get("kind", "none"), 0) + 1
    return {
        "confidence": release.get("confidence"),
        "meaning": ("With probability at least the stated confidence (per query), the total variation distance "
                    "between the synthetic data's model and the real data on that marginal is at most the bound; "
                    "computed from DP quantities only (AIM section 5)"),
        "n_queries": len(bounds),
        "n_bounded": len(with_bound),
        "by_kind": by_kind,
        "tvd_bound": {"mean": float(tvd.mean()), "median": float(np.median(tvd)), "max": float(tvd.max()),
                      "min": float(tvd.min())} if tvd.size else None,
        "worst": sorted(with_bound, key=lambda b: -b["tvd_bound"])[:n_worst],
        "bounds": bounds,
    }


def consistency_checks(release: dict | None, ledger: dict | None, synth_rows: int | None,
                       schema_hash: str | None) -> list[dict]:
    """Cross-checks between the release metadata, the ledger, the schema and SYNTH (each ok true/false)."""
    checks = []
    if release is None:
        return [{"check": "release metadata present", "ok": False,
                 "detail": "no release metadata: the report cannot state a privacy claim for SYNTH"}]
    if synth_rows is not None and release.get("rows") is not None:
        checks.append({"check": "SYNTH has the rows the release wrote", "ok": int(release["rows"]) == synth_rows,
                       "detail": f"SYNTH {synth_rows} rows, release metadata {release['rows']}"})
    checks.append(_rho_check(release))
    checks.append({"check": "noise from OpenDP's samplers (not the research RNG)",
                   "ok": not release.get("research_rng"),
                   "detail": "research_rng is " + str(bool(release.get("research_rng"))).lower()})
    checks.append({"check": "schema not drafted from the private data", "ok": not schema_drafted(release),
                   "detail": "drafted_from_data is " + str(schema_drafted(release)).lower()
                   + (": the domain is public only on the word of --schema-is-public"
                      if schema_drafted(release) else "")})
    if schema_hash is not None and release.get("schema_sha256"):
        checks.append({"check": "schema given is the schema released", "ok": schema_hash == release["schema_sha256"],
                       "detail": f"sha256 {schema_hash[:12]}... vs release {release['schema_sha256'][:12]}..."})
    if ledger is not None:
        rid = release.get("ledger_release_id")
        match = [r for r in ledger.get("releases", []) if r.get("release_id") == rid]
        checks.append({"check": "release recorded in the ledger", "ok": bool(match),
                       "detail": f"release {rid} in ledger dataset {ledger.get('dataset')!r}" if match else
                       f"release {rid} not found in ledger dataset {ledger.get('dataset')!r}"})
        if match:
            rec = match[0]
            ok = bool(rec.get("complete")) and math.isclose(float(rec["rho"]), float(release.get("rho", -1)),
                                                            rel_tol=1e-9)
            checks.append({"check": "ledger entry complete, with the release's rho", "ok": ok,
                           "detail": f"complete={rec.get('complete')}, rho ledger {float(rec['rho']):.6g} vs "
                                     f"release {float(release.get('rho', float('nan'))):.6g}"})
    return checks


def _rho_check(release: dict) -> dict:
    """Does the stated epsilon cover the release's rho? A rho spent at delta (or at a smaller
    delta, when domain learning took a share of it) is at least epsilon_from_rho(rho, delta)."""
    check = "the stated epsilon covers the release's rho"
    try:
        eps, delta, rho = float(release["epsilon"]), float(release["delta"]), float(release["rho"])
        implied = epsilon_from_rho(rho, delta)
    except (KeyError, TypeError, ValueError, InputError) as exc:
        return {"check": check, "ok": False, "detail": f"epsilon, delta or rho missing or invalid ({exc})"}
    return {"check": check, "ok": implied <= eps * (1 + 1e-9),
            "detail": f"rho {rho:.6g} is ({implied:.6g}, {delta:g})-DP; the release states epsilon {eps:g}"}


def column_distributions(real: pd.DataFrame, synth: pd.DataFrame, schema: Any = None) -> list[dict]:
    """Per column, real and synthetic shares on common bins (numeric) or categories (top ones + other).

    Numeric bins: ``HIST_BINS`` equal-width bins over the schema's bounds, or the
    real range without a schema. Shares are of all rows, missing values in their
    own ``<missing>`` entry.
    """
    out = []
    for col in real.columns:
        r, s = real[col], synth[col]
        spec = schema[col] if schema is not None and col in schema.names else None
        kind = spec.kind if spec is not None else ("numeric" if is_numeric_column(r) else "categorical")
        if kind in ("numeric", "datetime"):
            rv, sv = _as_float(r, kind), _as_float(s, kind)
            finite = rv[np.isfinite(rv)]
            if spec is not None and kind == "numeric":
                lo, hi = ((float(spec.lower), float(spec.upper)) if spec.lower is not None else
                          (float(spec.edges[0]), float(spec.edges[-1])))
            else:
                lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if hi <= lo:
                hi = lo + 1.0
            edges = np.linspace(lo, hi, HIST_BINS + 1)
            hr = np.histogram(np.clip(finite, lo, hi), edges)[0] / max(len(rv), 1)
            hs = np.histogram(np.clip(sv[np.isfinite(sv)], lo, hi), edges)[0] / max(len(sv), 1)
            out.append({"column": str(col), "kind": kind,
                        "unit": "days since 1970-01-01" if kind == "datetime" else None,
                        "edges": edges.tolist(), "real": hr.tolist(), "synth": hs.tolist(),
                        "missing_real": float(np.mean(~np.isfinite(rv))),
                        "missing_synth": float(np.mean(~np.isfinite(sv))) if len(sv) else 0.0})
        else:
            rv, sv = pd.Series(categorical_strings(r)), pd.Series(categorical_strings(s))
            rf = rv.fillna("<missing>").value_counts() / max(len(rv), 1)
            sf = sv.fillna("<missing>").value_counts() / max(len(sv), 1)
            order = list((rf.add(sf, fill_value=0)).sort_values(ascending=False).index)
            top = order[:TOP_CATEGORIES]
            labels = [str(v) for v in top]
            real_sh = [float(rf.get(v, 0.0)) for v in top]
            synth_sh = [float(sf.get(v, 0.0)) for v in top]
            if len(order) > len(top):
                labels.append(f"other ({len(order) - len(top)})")
                real_sh.append(float(1.0 - sum(real_sh)))
                synth_sh.append(float(1.0 - sum(synth_sh)))
            out.append({"column": str(col), "kind": "categorical", "labels": labels, "real": real_sh,
                        "synth": synth_sh})
    return out


def _as_float(x: pd.Series, kind: str) -> np.ndarray:
    """Numbers as floats (NaN for missing); datetimes as days since 1970-01-01 (UTC)."""
    if kind == "datetime":
        t = pd.to_datetime(x, errors="coerce", utc=True)
        days = (t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
        return pd.to_numeric(days, errors="coerce").to_numpy(dtype=float)
    return pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)


def what_this_data_is(report: dict) -> dict:
    """The "what this data is and is not" section, worded from the report's own numbers."""
    claim = report.get("privacy")
    is_ = ["A sample of synthetic records drawn from a statistical model that was fitted to the private data "
           "under differential privacy. No row is a real person, and no row was copied from the real data."]
    if claim:
        is_.append(f"Covered by the stated guarantee: ({claim['epsilon']:g}, {claim['delta']:g})-DP, "
                   f"{claim['neighbouring']} neighbouring. Any analysis of these rows, however often repeated, "
                   "learns no more about any one person than the guarantee allows.")
    is_not = [
        "Not the ground truth: the real data stays the reference. Decisions about individuals, record linkage, "
        "outlier hunting or counts of small groups must not be made from synthetic rows.",
        "Not a faithful picture of rare combinations: cells with few real records are dominated by the DP noise, "
        "and values inside one schema bin are drawn uniformly.",
    ]
    holds, not_holds = [], []
    fid = report.get("fidelity")
    if fid:
        t = fid["tvd"]
        for k, what in (("1", "single-column distributions"), ("2", "two-way relationships (cross-tabulations)"),
                        ("3", "three-way interactions")):
            if not t[k]["n"]:
                continue
            mean = t[k]["mean"]
            level = ("close" if mean < TVD_GOOD else "fair" if mean < TVD_FAIR else "poor")
            line = f"{what}: mean TVD {mean:.3f} ({level}; worst {t[k]['max']:.3f}"
            worst = t[k]["worst"][:2]
            line += (" on " + ", ".join("/".join(w["columns"]) for w in worst) + ")") if worst else ")"
            (holds if mean < TVD_FAIR else not_holds).append(line[0].upper() + line[1:])
    util = report.get("utility")
    if util:
        for tg in util["targets"]:
            gaps = [m["trtr"]["auc"] - m["tstr"]["auc"] for m in tg["models"]
                    if m["trtr"]["auc"] is not None and m["tstr"]["auc"] is not None]
            if not gaps:
                continue
            gap = float(np.mean(gaps))
            line = (f"Predicting {tg['target']}: models trained on synthetic rows reach an AUC "
                    f"{abs(gap):.3f} {'lower' if gap >= 0 else 'higher'} than those trained on real rows "
                    f"(mean over {len(gaps)} models, tested on real rows)")
            (holds if gap < 0.05 else not_holds).append(line)
            rc = tg["ranking_consistency"]
            if rc is not None:
                (holds if rc > 0.5 else not_holds).append(
                    f"Choosing a model for {tg['target']} on synthetic data: ranking consistency {rc:+.2f} "
                    + ("(the real ranking carries over)" if rc > 0.5
                       else "(the real ranking does not reliably carry over)"))
    bounds = report.get("error_bounds")
    if bounds and bounds.get("tvd_bound"):
        holds.append(f"AIM's own DP error bounds: {bounds['n_bounded']} of {bounds['n_queries']} workload marginals "
                     f"have a TVD bound, median {bounds['tvd_bound']['median']:.3f} (each at "
                     f"{bounds['confidence']:g} confidence); these hold without looking at the real data again")
    return {"is": is_, "is_not": is_not, "expected_to_hold": holds, "not_expected_to_hold": not_holds}


def build_report(real: pd.DataFrame | None, synth: pd.DataFrame, schema: Any = None, *,
                 release: dict | None = None, ledger: dict | None = None, holdout: pd.DataFrame | None = None,
                 audit: dict | None = None, evaluation: dict | None = None, attacks: dict | None = None,
                 targets: Sequence[str] | None = None, public: bool = False, inputs: dict | None = None,
                 max_train_rows: int = 20_000, n_targets: int = 2000, seed: int = 0) -> dict:
    """Everything the report shows, JSON-ready.

    ``release``: the release metadata (``<synth>.release.json``); ``ledger``: a
    :meth:`~dpsynth.accounting.Ledger.summary`; ``audit``: an
    :func:`~dpsynth.attacks.audit.audit` result. ``evaluation``/``attacks``
    reuse results of :func:`dpsynth.evaluate.evaluate` /
    :func:`dpsynth.attacks.run_attacks` already computed on the same tables;
    otherwise they are computed here (attacks only when ``holdout`` is given).
    ``public=True`` keeps DP quantities only and never reads ``real``.
    """
    schema = load_schema(schema if schema is not None else (release or {}).get("schema"))
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dpsynth_version": __version__,
        "mode": "public" if public else "internal",
        "note": PUBLIC_NOTE if public else INTERNAL_NOTE,
        "inputs": dict(inputs or {}),
        "n_synth": int(len(synth)),
        "privacy": privacy_claim(release) if release else None,
        "ledger": ledger_section(ledger) if ledger else None,
        "release": _release_metadata(release) if release else None,
        "error_bounds": error_bounds_section(release) if release else None,
        "checks": consistency_checks(release, ledger, len(synth), schema.hash() if schema is not None else None),
    }
    if public:
        report.update(fidelity=None, utility=None, attacks=None, audit=None, what_this_data_is=None,
                      ledger=_to_the_day(report["ledger"]), release=_to_the_day(report["release"]))
        return report
    if real is None:
        raise InputError("the internal report needs the real table; pass REAL, or use --public for DP quantities only")
    if evaluation is None:
        evaluation = evaluate(real, synth, schema, targets, holdout=holdout, max_train_rows=max_train_rows, seed=seed)
    fidelity = dict(evaluation["fidelity"])
    fidelity["distributions"] = column_distributions(real, synth, schema)
    report["fidelity"] = fidelity
    report["utility"] = evaluation.get("utility")
    if attacks is None and holdout is not None:
        from dpsynth.attacks import run_attacks

        attacks = run_attacks(real, holdout, synth, schema, n_targets=n_targets, seed=seed)
    report["attacks"] = attacks if attacks is not None else {
        "run": False, "reason": "no HOLDOUT table was given (--holdout): attacks need real records the "
                                "synthesizer never saw as their baseline, so they were not run"}
    report["audit"] = audit
    report["what_this_data_is"] = what_this_data_is(report)
    return report


#: Timestamps a public report keeps to the day: how long a release or one of its steps took
#: depends on the data (e.g. on how many distinct values category discovery suppressed).
TIMED_KEYS = ("created", "finished")


def _to_the_day(value: Any) -> Any:
    """``value`` with every ``created``/``finished`` timestamp cut to its date (nested dicts and lists)."""
    if isinstance(value, dict):
        return {k: (v[:10] if k in TIMED_KEYS and isinstance(v, str) else _to_the_day(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_the_day(v) for v in value]
    return value


def _release_metadata(release: dict) -> dict:
    """The release metadata without the bulky parts shown elsewhere (schema body, error bounds)."""
    meta = {k: v for k, v in release.items() if k not in ("schema", "workload_error_bounds")}
    schema = release.get("schema") or {}
    meta["schema_columns"] = list((schema.get("columns") or {}).keys())
    return meta


# =============================================================================== figures

def pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the report extra
        raise InputError(f"the report needs matplotlib: pip install 'dpsynth[report]' ({exc})") from exc
    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.titlesize": 10, "figure.dpi": 100})
    return plt


def png_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=90)
    pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def fig_tvd(fid: dict) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    data, labels = [], []
    for k in ("1", "2", "3"):
        vals = [m["tvd"] for m in fid["marginals"][k]]
        if vals:
            data.append(vals)
            labels.append(f"{k}-way ({len(vals)})")
    horizontal = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.boxplot).parameters
                  else {"vert": False})  # matplotlib < 3.10
    ax.boxplot(data, widths=0.5, showfliers=False, **horizontal)
    rng = np.random.default_rng(0)
    for i, vals in enumerate(data, start=1):
        ax.scatter(vals, i + rng.uniform(-0.18, 0.18, len(vals)), s=7, alpha=0.45, color=SYNTH_COLOUR, lw=0)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.axvline(TVD_GOOD, color="#2a9d5c", ls=":", lw=1)
    ax.axvline(TVD_FAIR, color="#c0392b", ls=":", lw=1)
    ax.set_xlabel("TVD of the marginal (0 = identical, 1 = disjoint); dotted: 0.05 and 0.10")
    ax.set_xlim(0, max(0.15, max(max(v) for v in data) * 1.05) if data else 1)
    return png_base64(fig)


def fig_columns(dists: list[dict]) -> str:
    plt = pyplot()
    n = len(dists)
    ncol = 3
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.3 * nrow), squeeze=False)
    for ax, d in zip(axes.ravel(), dists):
        if d["kind"] in ("numeric", "datetime"):
            e = np.asarray(d["edges"])
            ax.stairs(d["real"], e, fill=True, alpha=0.35, color=REAL_COLOUR, label="real")
            ax.stairs(d["synth"], e, lw=1.6, color=SYNTH_COLOUR, label="synthetic")
        else:
            x = np.arange(len(d["labels"]))
            ax.bar(x - 0.2, d["real"], 0.4, color=REAL_COLOUR, alpha=0.8, label="real")
            ax.bar(x + 0.2, d["synth"], 0.4, color=SYNTH_COLOUR, alpha=0.9, label="synthetic")
            ax.set_xticks(x, [lab[:14] for lab in d["labels"]], rotation=40, ha="right", fontsize=7)
        ax.set_title(d["column"] + (f" ({d['unit']})" if d.get("unit") else ""), loc="left")
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return png_base64(fig)


def fig_association(assoc: dict) -> str:
    plt = pyplot()
    names = assoc["columns"]
    mats = [np.array([[np.nan if v is None else v for v in row] for row in assoc[k]], dtype=float)
            for k in ("real", "synth", "abs_diff")]
    size = max(3.2, 0.32 * len(names) + 1.5)
    fig, axes = plt.subplots(1, 3, figsize=(3 * size, size))
    titles = ("real", "synthetic", "|real - synthetic|")
    for ax, m, title, cmap in zip(axes, mats, titles, ("Blues", "Blues", "Reds")):
        im = ax.imshow(np.abs(m), vmin=0, vmax=1, cmap=cmap)
        ax.set_title(title)
        ax.set_xticks(range(len(names)), [n[:12] for n in names], rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), [n[:12] for n in names] if ax is axes[0] else [], fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return png_base64(fig)


def fig_utility(util: dict) -> str:
    plt = pyplot()
    targets = util["targets"]
    fig, axes = plt.subplots(1, len(targets), figsize=(3.8 * len(targets), 2.8), squeeze=False)
    for ax, t in zip(axes[0], targets):
        models = [m["model"].replace("_", " ") for m in t["models"]]
        x = np.arange(len(models))
        trtr = [np.nan if m["trtr"]["auc"] is None else m["trtr"]["auc"] for m in t["models"]]
        tstr = [np.nan if m["tstr"]["auc"] is None else m["tstr"]["auc"] for m in t["models"]]
        ax.bar(x - 0.2, trtr, 0.4, color=REAL_COLOUR, label="train real, test real")
        ax.bar(x + 0.2, tstr, 0.4, color=SYNTH_COLOUR, label="train synthetic, test real")
        ax.set_ylim(min(0.5, np.nanmin(trtr + tstr + [0.5]) - 0.05), 1.0)  # below 0.5 (worse than chance) shows
        ax.axhline(0.5, color="grey", lw=0.6, ls=":")
        ax.set_xticks(x, models, fontsize=7)
        rc = t["ranking_consistency"]
        ax.set_title(f"{t['target']} (ranking consistency {'n/a' if rc is None else f'{rc:+.2f}'})", loc="left")
        ax.set_ylabel("AUC")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, frameon=False, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 1.08))
    fig.tight_layout()
    return png_base64(fig)


def fig_attacks(att: dict) -> str:
    plt = pyplot()
    rows = att["attacks"]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.0))
    for i, a in enumerate(rows):
        colour = "#c0392b" if a["leak"] else "#2a9d5c"
        ax.plot([a["ci_low"], a["ci_high"]], [i, i], color=colour, lw=2.5)
        ax.plot(a["advantage"], i, "o", color=colour)
    ax.axvline(0, color="#555", lw=1)
    ax.set_yticks(range(len(rows)), [a["name"].replace("_", " ") for a in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f"advantage = success on TRAIN - success on HOLDOUT, {att['per_attack_confidence']:.3g} intervals "
                  "(red: leak)")
    return png_base64(fig)


def fig_ledger(led: dict) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 1.5))
    left = 0.0
    cmap = plt.get_cmap("tab20")
    for i, r in enumerate(led.get("releases", [])):
        ax.barh(0, r["rho"], left=left, color=cmap(i % 20), edgecolor="white")
        if r["rho"] > 0.06 * led["rho_total"]:
            ax.text(left + r["rho"] / 2, 0, r["method"], ha="center", va="center", fontsize=7, color="white")
        left += r["rho"]
    ax.barh(0, led["rho_remaining"], left=left, color="#e8e8e8", edgecolor="#999", hatch="//")
    ax.text(left + led["rho_remaining"] / 2, 0, "remaining", ha="center", va="center", fontsize=7)
    ax.set_xlim(0, max(led["rho_total"], left + led["rho_remaining"]))
    ax.set_yticks([])
    ax.set_xlabel(f"rho (zCDP) of dataset {led['dataset']!r}: total {led['rho_total']:.4g}")
    return png_base64(fig)


def fig_audit(aud: dict) -> str:
    plt = pyplot()
    s = aud["statistic"]
    x0, x1 = np.asarray(s["scores_without_canary"]), np.asarray(s["scores_with_canary"])
    fig, ax = plt.subplots(figsize=(7.5, 2.4))
    both = np.concatenate([x0, x1])
    lo, hi = float(both.min()), float(np.quantile(both, 0.99))  # the top 1% piles up in the last bin
    hi = hi if hi > lo else lo + 1.0
    bins = np.linspace(lo, hi, 40)
    ax.hist(np.clip(x0, lo, hi), bins, alpha=0.55, color=REAL_COLOUR, label="runs on D (no canary)")
    ax.hist(np.clip(x1, lo, hi), bins, alpha=0.55, color=SYNTH_COLOUR, label="runs on D' (with the canary)")
    ax.axvline(s["threshold"], color="#333", ls="--", lw=1, label="threshold")
    ax.set_yscale("log")
    ax.set_ylabel("runs (log scale)")
    ax.set_xlabel(f"{s['name']} (evaluation runs; values above the 99th percentile in the last bin)")
    ax.legend(fontsize=7, frameon=False)
    return png_base64(fig)


def fig_error_bounds(eb: dict) -> str:
    plt = pyplot()
    vals = [b["tvd_bound"] for b in eb["bounds"] if b.get("tvd_bound") is not None]
    fig, ax = plt.subplots(figsize=(7.5, 2.2))
    ax.hist(vals, bins=30, color="#6c5ce7", alpha=0.8)
    ax.set_xlabel(f"DP upper bound on the TVD of each workload marginal ({eb['confidence']:g} confidence each)")
    ax.set_ylabel("marginals")
    return png_base64(fig)


# =============================================================================== HTML

PAGE_CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1d2330;margin:0;background:#f4f5f7}
main{max-width:1120px;margin:0 auto;padding:18px 26px 60px;background:#fff}
h1{font-size:24px;margin:6px 0 2px}h2{font-size:19px;margin:30px 0 8px;padding-top:10px;border-top:2px solid #e4e6ea}
h3{font-size:15px;margin:18px 0 6px}
.sub{color:#5a6272;margin:0 0 12px}
.banner{padding:10px 14px;border-radius:6px;margin:10px 0;font-weight:600}
.internal{background:#fff4d6;border:1px solid #e0b341;color:#6b4b00}
.public{background:#e3f0ff;border:1px solid #6aa3e8;color:#0f3d73}
.danger{background:#fde2e1;border:1px solid #d9534f;color:#7a1512}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{flex:1 1 180px;border:1px solid #dde1e7;border-radius:8px;padding:10px 12px;background:#fafbfc}
.card .k{font-size:12px;color:#5a6272;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:21px;font-weight:650;margin-top:2px}.card .d{font-size:12px;color:#5a6272}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{padding:4px 9px;border-bottom:1px solid #e4e6ea;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1e7b47;font-weight:600}.bad{color:#b3261e;font-weight:700}.muted{color:#6b7280}
.tag{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600}
.tag.ok{background:#dff3e6}.tag.bad{background:#fde2e1}.tag.dp{background:#e3f0ff;color:#0f3d73}
.tag.nodp{background:#fff4d6;color:#6b4b00}
img{max-width:100%;display:block;margin:6px 0}
summary{cursor:pointer;margin:10px 0 4px}
.statement{background:#f7f9fc;border-left:4px solid #1f5f9f;padding:10px 14px;margin:8px 0}
ul.tight li{margin:3px 0}.cols{display:flex;gap:24px;flex-wrap:wrap}.cols>div{flex:1 1 320px}
footer{margin-top:36px;font-size:12px;color:#6b7280}
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return esc(x)


def _g(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):.4g}"


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(header)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='n'>{c}</td>" if numeric[i] else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_img(b64: str, alt: str) -> str:
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{b64}'>"


def _card(key: str, value: str, detail: str = "") -> str:
    return (f"<div class='card'><div class='k'>{esc(key)}</div><div class='v'>{value}</div>"
            f"<div class='d'>{detail}</div></div>")


def _verdict(ok: bool, yes: str, no: str) -> str:
    return f"<span class='tag ok'>{esc(yes)}</span>" if ok else f"<span class='tag bad'>{esc(no)}</span>"


def _audit_tag(aud: dict) -> str:
    """The audit's verdict; "inconclusive" when too few runs could show the claim violated."""
    found = audit_verdict(aud)
    if found == "inconclusive":
        return "<span class='tag nodp'>inconclusive: too few runs to test the claim</span>"
    return _verdict(found == "no violation", "no violation", "VIOLATION")


def _summary_cards(r: dict) -> str:
    cards = []
    p = r.get("privacy")
    cards.append(_card("privacy claim", f"&epsilon; = {p['epsilon']:g}" if p else "<span class='bad'>none</span>",
                       f"&delta; = {p['delta']:g}, {esc(p['neighbouring'])}" if p else "no release metadata"))
    led = r.get("ledger")
    if led:
        cards.append(_card("ledger", f"{100 * led['rho_spent'] / led['rho_total']:.0f}% spent",
                           f"{led['n_releases']} release(s) on {esc(led['dataset'])}; &epsilon; spent "
                           f"{led['epsilon_spent']:.3g} of {led['epsilon']:g}"))
    fid = r.get("fidelity")
    if fid:
        cards.append(_card("2-way TVD (mean)", _f(fid['tvd']['2']['mean']),
                           f"1-way {_f(fid['tvd']['1']['mean'])}, 3-way {_f(fid['tvd']['3']['mean'])}"))
    util = r.get("utility")
    if util and util["targets"]:
        pairs = [(m["tstr"]["auc"], m["trtr"]["auc"]) for t in util["targets"] for m in t["models"]
                 if m["tstr"]["auc"] is not None and m["trtr"]["auc"] is not None]
        if pairs:
            cards.append(_card("TSTR / TRTR AUC",
                               f"{np.mean([a for a, _ in pairs]):.3f} / {np.mean([b for _, b in pairs]):.3f}",
                               f"ranking consistency {_f(util['ranking_consistency'], 2)}"))
    att = r.get("attacks")
    if att and att.get("attacks"):
        n_leak = sum(a["leak"] for a in att["attacks"])
        cards.append(_card("attacks", _verdict(n_leak == 0, "no leak detected", f"{n_leak} leak(s)"),
                           f"{len(att['attacks'])} attacks, {att['confidence']:g} joint confidence"))
    aud = r.get("audit")
    if aud:
        cards.append(_card("audit", _audit_tag(aud),
                           f"&epsilon; lower bound {aud['epsilon_lower_bound']:.3f} "
                           f"(claim {aud['epsilon_claimed']:g}), "
                           f"{aud['runs']} runs"))
    bad = [c for c in r.get("checks", []) if not c["ok"]]
    cards.append(_card("consistency checks",
                       _verdict(not bad, f"{len(r.get('checks', []))} passed", f"{len(bad)} failed"),
                       "release vs ledger, schema and SYNTH"))
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _section_privacy(r: dict) -> str:
    p = r.get("privacy")
    out = ["<h2>1. Privacy claim <span class='tag dp'>DP quantity</span></h2>"]
    if not p:
        return out[0] + "<p class='bad'>No release metadata was given (--release, or SYNTH.release.json beside " \
                        "SYNTH): this report cannot state any privacy guarantee for SYNTH.</p>"
    if p["research_rng_warning"]:
        out.append(f"<div class='banner danger'>{esc(p['research_rng_warning'])}</div>")
    if p.get("schema_drafted_from_data"):
        out.append("<div class='banner danger'>The schema was drafted from the private data: the claim below holds "
                   "only if its categories and bounds are public knowledge (asserted with --schema-is-public, not "
                   "checked).</div>")
    out.append(f"<div class='statement'>{esc(p['statement'])}</div>")
    out.append(html_table(["epsilon", "delta", "rho (zCDP)", "neighbouring", "method", "released", "noise"],
                      [[f"{p['epsilon']:g}", f"{p['delta']:g}", _g(p["rho"]), esc(p["neighbouring"]),
                        esc(p["method"]), esc(p["created"]), "research RNG (insecure)" if p["research_rng"]
                        else "OpenDP samplers"]]))
    checks = r.get("checks") or []
    if checks:
        out.append("<h3>Consistency checks</h3>")
        out.append(html_table(["check", "result", "detail"],
                          [[esc(c["check"]), _verdict(c["ok"], "ok", "FAILED"), esc(c["detail"])] for c in checks]))
    return "".join(out)


def _section_ledger(r: dict, figs: dict) -> str:
    led = r.get("ledger")
    out = ["<h2>2. Privacy ledger <span class='tag dp'>DP quantity</span></h2>"]
    if not led:
        out.append("<p class='muted'>No ledger was given (--ledger L --dataset NAME): the budget of other releases "
                   "on the same data is not shown. A release without a ledger composes with nothing.</p>")
        return "".join(out)
    out.append(f"<p>Dataset <b>{esc(led['dataset'])}</b>: total budget ({led['epsilon']:g}, {led['delta']:g})-DP "
               f"({esc(led['neighbouring'])}) = rho {led['rho_total']:.4g}. Spent rho {led['rho_spent']:.4g} "
               f"(all releases together are ({led['epsilon_spent']:.3g}, {led['delta']:g})-DP); remaining rho "
               f"{led['rho_remaining']:.4g}, enough for one more release of at most epsilon "
               f"{led['epsilon_remaining_single_release']:.3g} on its own.</p>")
    out.append(html_img(figs["ledger"], "ledger"))
    rows = [[esc(x["release_id"][:12]), esc(x["method"]), _g(x["rho"]), _g(x.get("delta")),
             str(len(x.get("measurements", []))), _verdict(x["complete"], "complete", "incomplete"),
             "<span class='bad'>yes</span>" if x["research_rng"] else "no", esc(x["created"]),
             esc(x.get("error") or "")]
            for x in led["releases"]]
    out.append(html_table(["release", "method", "rho", "delta", "measurements", "status", "research RNG", "created",
                       "error"], rows))
    return "".join(out)


def _section_release(r: dict, figs: dict) -> str:
    meta = r.get("release")
    out = ["<h2>3. Release metadata <span class='tag dp'>DP quantity</span></h2>"]
    if not meta:
        return out[0] + "<p class='muted'>No release metadata given.</p>"
    keys = [("method", "method"), ("dataset", "dataset"), ("ledger_release_id", "ledger release"),
            ("rows", "rows written"), ("estimated_rows", "DP estimate of the real row count"),
            ("schema_sha256", "schema sha256"), ("dpsynth_version", "dpsynth version"), ("created", "created"),
            ("rounds", "AIM rounds"), ("engine", "engine")]
    rows = [[esc(label), esc(meta[k]) if not isinstance(meta[k], float) else f"{meta[k]:.6g}"]
            for k, label in keys if meta.get(k) is not None]
    out.append(html_table(["field", "value"], rows))
    ms = meta.get("measurements") or []
    if ms:
        shown = [[esc(", ".join(m.get("clique") or [m.get("query", "")])), esc(m.get("mechanism")),
                  _g(m.get("sigma")), _g(m.get("epsilon")), _g(m.get("rho"))] for m in ms[:60]]
        out.append(f"<details><summary><b>Measurements</b> ({len(ms)}{', first 60 shown' if len(ms) > 60 else ''}; "
                   "click to expand)</summary>")
        out.append(html_table(["marginal / query", "mechanism", "sigma (counts)", "epsilon", "rho"], shown,
                          [False, False, True, True, True]) + "</details>")
    eb = r.get("error_bounds")
    if eb:
        out.append("<h3>AIM's per-query error bounds</h3>")
        out.append(f"<p>{esc(eb['meaning'])}. {eb['n_bounded']} of {eb['n_queries']} workload marginals are bounded "
                   f"({', '.join(f'{k}: {v}' for k, v in eb['by_kind'].items())}); TVD bound median "
                   f"{eb['tvd_bound']['median']:.3f}, max {eb['tvd_bound']['max']:.3f}.</p>" if eb["tvd_bound"] else
                   "<p>No workload marginal has a bound.</p>")
        if eb["tvd_bound"]:
            out.append(html_img(figs["error_bounds"], "AIM error bounds"))
            out.append(f"<details><summary><b>The {len(eb['worst'])} largest bounds</b> (all {eb['n_queries']} are in "
                       "report.json)</summary>")
            out.append(html_table(["marginal", "kind", "L1 bound (counts)", "TVD bound"],
                              [[esc("/".join(b["marginal"])), esc(b["kind"]), f"{b['l1_bound']:.4g}",
                                f"{b['tvd_bound']:.3f}"] for b in eb["worst"]],
                              [False, False, True, True]) + "</details>")
    return "".join(out)


def _section_fidelity(r: dict, figs: dict) -> str:
    fid = r["fidelity"]
    t = fid["tvd"]
    out = ["<h2>4. Fidelity <span class='tag nodp'>real data, no DP</span></h2>",
           f"<p>{fid['n_real']} real rows against {fid['n_synth']} synthetic rows; cells {esc(fid['binning'])}. "
           "TVD of a marginal is half the L1 distance between the real and synthetic cell shares (0 identical, "
           "1 disjoint; 1 - TVD is what some tools call accuracy).</p>"]
    rows = []
    for k in ("1", "2", "3"):
        s = t[k]
        if not s["n"]:
            continue
        n = f"{s['n']}" + (f" of {s['sampled_from']} (sampled, seed {s['seed']})" if k == "3" else "")
        worst = ", ".join(f"{'/'.join(w['columns'])} {w['tvd']:.3f}" for w in s["worst"][:3])
        rows.append([f"{k}-way", n, _f(s["mean"]), _f(s["median"]), _f(s["max"]), esc(worst)])
    out.append(html_table(["marginals", "count", "mean TVD", "median", "max", "worst"], rows,
                      [False, False, True, True, True, False]))
    out.append(html_img(figs["tvd"], "TVD distribution"))
    out.append("<h3>Per-column distributions (real shaded/blue, synthetic orange)</h3>")
    out.append(html_img(figs["columns"], "column distributions"))
    crow = []
    for c in fid["columns"]:
        if c["kind"] == "numeric":
            extra = (f"KS {_f(c['ks'])}; mean {_f(c['real']['mean'], 4)} vs {_f(c['synth']['mean'], 4)}; "
                     f"median {_f(c['real']['median'], 4)} vs {_f(c['synth']['median'], 4)}")
        else:
            extra = (f"{c['n_categories_real']} vs {c['n_categories_synth']} categories; unseen in real "
                     f"{_f(c['unseen_in_real_rate'])}")
        crow.append([esc(c["column"]), esc(c["kind"]), _f(c["tvd"]), esc(extra),
                     f"{_f(c['missing_real'])} / {_f(c['missing_synth'])}"])
    out.append(html_table(["column", "kind", "TVD", "summary (real vs synthetic)", "missing real / synth"], crow,
                      [False, False, True, False, False]))
    a = fid["association"]
    out.append("<h3>Associations</h3>")
    out.append(f"<p>{esc(a['method'])}. Mean absolute difference {_f(a['mean_abs_diff'])}, max "
               f"{_f(a['max_abs_diff'])}.</p>")
    out.append(html_img(figs["association"], "association heatmaps"))
    if a["worst"]:
        out.append(html_table(["pair", "real", "synthetic", "|difference|"],
                          [[esc("/".join(w["columns"])), _f(w["real"]), _f(w["synth"]), _f(w["abs_diff"])]
                           for w in a["worst"][:8]], [False, True, True, True]))
    return "".join(out)


def _section_utility(r: dict, figs: dict) -> str:
    util = r.get("utility")
    out = ["<h2>5. Utility <span class='tag nodp'>real data, no DP</span></h2>"]
    if not util:
        return out[0] + "<p class='muted'>Utility was not computed.</p>"
    if not util["targets"]:
        return out[0] + ("<p class='muted'>No TSTR target: no categorical column with two or more classes and "
                         "another column to predict it from (name one with --target).</p>")
    out.append(f"<p>Train-synthetic-test-real (TSTR) beside train-real-test-real (TRTR), tested on the "
               f"{esc(util['test_set'])}. Ranking consistency: {esc(util['ranking_metric'])} (Xu, Sun &amp; Cheng): "
               "near +1, a model chosen on synthetic data is also the best on real data, even if absolute scores "
               f"differ. Mean over targets: <b>{_f(util['ranking_consistency'], 2)}</b>.</p>")
    out.append(html_img(figs["utility"], "utility"))
    rows = []
    for t in util["targets"]:
        for m in t["models"]:
            gap = (None if m["trtr"]["auc"] is None or m["tstr"]["auc"] is None
                   else m["trtr"]["auc"] - m["tstr"]["auc"])
            rows.append([esc(t["target"]), esc(m["model"]), _f(m["trtr"]["auc"]), _f(m["tstr"]["auc"]), _f(gap),
                         _f(m["trtr"]["accuracy"]), _f(m["tstr"]["accuracy"]),
                         _f(t["ranking_consistency"], 2), esc(", ".join(t["classes_missing_in_synth"]) or "-")])
    out.append(html_table(["target", "model", "AUC TRTR", "AUC TSTR", "gap", "acc. TRTR", "acc. TSTR",
                       "ranking consistency", "classes missing in synth"], rows,
                      [False, False, True, True, True, True, True, True, False]))
    return "".join(out)


def _section_attacks(r: dict, figs: dict) -> str:
    att = r.get("attacks")
    out = ["<h2>6. Attacks <span class='tag nodp'>real data, no DP</span></h2>"]
    if not att or not att.get("attacks"):
        return out[0] + f"<p class='muted'>Not run: {esc((att or {}).get('reason', 'no results given'))}.</p>"
    out.append(f"<p>Each attack runs on {att['attacks'][0]['n_targets']} TRAIN records (which the synthesizer saw) "
               f"and, as the baseline, on {att['attacks'][0]['n_baseline_targets']} HOLDOUT records (which it did "
               f"not). A leak is declared only when the interval for the difference lies above zero, each interval at "
               f"{att['per_attack_confidence']:.4g} ({esc(att['correction'])}, {att['confidence']:g} jointly). "
               f"Distance: {esc(att['distance'])}.</p>")
    out.append(html_img(figs["attacks"], "attack intervals"))
    rows = [[esc(a["name"]), _f(a["success_rate"]), _f(a["baseline_rate"]), _f(a["advantage"]),
             f"[{a['ci_low']:+.3f}, {a['ci_high']:+.3f}]", _verdict(not a["leak"], "no leak detected", "LEAK"),
             esc(a["description"])] for a in att["attacks"]]
    out.append(html_table(["attack", "success TRAIN", "success HOLDOUT", "advantage", "interval", "verdict",
                       "what it tries"], rows, [False, True, True, True, False, False, False]))
    out.append("<p class='muted'>No detected leak is not proof of privacy: these attacks bound what they test. "
               "The DP guarantee in section 1 is the proof; the attacks check the implementation end to end.</p>")
    return "".join(out)


def _section_audit(r: dict, figs: dict) -> str:
    aud = r.get("audit")
    out = ["<h2>7. Empirical DP audit <span class='tag dp'>public canary design</span></h2>"]
    if not aud:
        return out[0] + ("<p class='muted'>No audit result given (run <code>dpsynth audit --method M --epsilon E "
                         "--runs N --out audit.json</code> and pass <code>--audit audit.json</code>).</p>")
    s = aud["statistic"]
    out.append(f"<p>{esc(aud['method'])} was fitted {aud['runs']} times on a public table D and {aud['runs']} times on "
               f"D plus one canary record in otherwise empty cells. The test chosen on {aud['runs_selection']} runs "
               f"({esc(s['description'])}; {esc(s['rule'])} {s['threshold']:.4g}) made FPR {s['fpr']:.3f} (upper "
               f"{s['fpr_upper']:.3f}) and FNR {s['fnr']:.3f} (upper {s['fnr_upper']:.3f}) on the other "
               f"{aud['runs_evaluation']}: epsilon lower bound <b>{aud['epsilon_lower_bound']:.3f}</b> at "
               f"{aud['confidence']:g} confidence against the claimed {aud['epsilon_claimed']:g} "
               f"(delta {aud['delta']:g}). {_audit_tag(aud)} "
               f"With this many runs no audit can show more than {aud['max_detectable_epsilon']:.2f}.</p>")
    out.append(html_img(figs["audit"], "audit scores"))
    out.append(f"<p class='muted'>{esc(aud['note'])}</p>")
    return "".join(out)


def _section_what(r: dict) -> str:
    w = r.get("what_this_data_is")
    if not w:
        return ""

    def ul(items: list[str]) -> str:
        return "<ul class='tight'>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>" if items else \
            "<p class='muted'>nothing to list</p>"

    return ("<h2>8. What this data is and is not</h2><div class='cols'>"
            f"<div><h3>It is</h3>{ul(w['is'])}<h3>Expected to hold</h3>{ul(w['expected_to_hold'])}</div>"
            f"<div><h3>It is not</h3>{ul(w['is_not'])}"
            f"<h3>Not expected to hold</h3>{ul(w['not_expected_to_hold'])}</div>"
            "</div>")


def render_figures(report: dict) -> dict[str, str]:
    """Every plot of the report as base64 PNG, drawn from the report dict's numbers only."""
    figs: dict[str, str] = {}
    if report.get("ledger"):
        figs["ledger"] = fig_ledger(report["ledger"])
    eb = report.get("error_bounds")
    if eb and eb.get("tvd_bound"):
        figs["error_bounds"] = fig_error_bounds(eb)
    fid = report.get("fidelity")
    if fid:
        figs["tvd"] = fig_tvd(fid)
        figs["columns"] = fig_columns(fid["distributions"])
        figs["association"] = fig_association(fid["association"])
    if report.get("utility") and report["utility"]["targets"]:
        figs["utility"] = fig_utility(report["utility"])
    if report.get("attacks") and report["attacks"].get("attacks"):
        figs["attacks"] = fig_attacks(report["attacks"])
    if report.get("audit"):
        figs["audit"] = fig_audit(report["audit"])
    return figs


def render_html(report: dict) -> str:
    """The self-contained HTML page (inline CSS, base64 PNG plots, no scripts, no network)."""
    figs = render_figures(report)
    public = report["mode"] == "public"
    inputs = report.get("inputs") or {}
    title = "dpsynth release report" + (" (public)" if public else "")
    src = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in inputs.items() if v is not None)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{PAGE_CSS}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='sub'>Generated {esc(report['generated'])} by dpsynth {esc(report['dpsynth_version'])}. "
        f"Inputs: {src or 'n/a'}.</p>",
        f"<div class='banner {'public' if public else 'internal'}'>{esc(report['note'])}</div>",
        _summary_cards(report),
        _section_privacy(report),
        _section_ledger(report, figs),
        _section_release(report, figs),
    ]
    if not public:
        parts += [_section_fidelity(report, figs), _section_utility(report, figs), _section_attacks(report, figs),
                  _section_audit(report, figs), _section_what(report)]
    parts.append("<footer>Every number on this page is in the JSON twin of this file (report.json). "
                 "Plots are drawn from those numbers only.</footer></main></body></html>")
    return "\n".join(parts)


def json_path_for(out: str | Path) -> Path:
    """The JSON twin of an HTML report: ``report.html`` -> ``report.json``."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        raise InputError(f"{out}: the report is HTML; choose an --out ending in .html (the JSON twin goes beside it)")
    return out.parent / f"{out.stem}.json"   # not with_suffix, which raises on an empty name


def write_report(report: dict, out: str | Path) -> tuple[Path, Path]:
    """Write the HTML page to ``out`` and its JSON twin beside it, atomically
    and together: a failure while writing either leaves neither changed."""
    out = Path(out)
    twin = json_path_for(out)
    page = render_html(report)
    with atomic_write(out) as page_fh, atomic_write(twin) as twin_fh:
        twin_fh.write(dump_json(report) + "\n")
        page_fh.write(page)
    return out, twin
