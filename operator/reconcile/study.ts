/**
 * A TrainingStudy owns one child TrainingRecipe per variant (`<study>-NN`, spec from
 * api/study-load.ts: the patched base with the study's seeds, so each child is itself a
 * parent of one run per seed), at most `concurrency` unfinished at once, in row order. With
 * screening, every variant first gets a short child (`<study>-sNN`, `screenEpochs` epochs);
 * when all have finished, the `keep` best (api/study-screening.ts) get their full child.
 * The status is the ablation table over the full children's seeds (api/study-table.ts).
 *
 * Pure, like plan.ts and seeds.ts: (study, the children the cache shows, now) → status and writes.
 */
import {
  ANNOTATION_BACKEND,
  ANNOTATION_SPEC_HASH,
  ANNOTATION_STUDY_VARIANT,
  API_VERSION,
  KIND,
  LABEL_MANAGED_BY,
  LABEL_STUDY_OF,
  LABEL_STUDY_STAGE,
  MANAGED_BY,
  STUDY_KIND,
} from '../../api/names.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import { formatSpread } from '../../api/seeds.js';
import {
  STUDY_CONDITION_SCREENED,
  StudyReason,
  type StudyPhase,
  type TrainingStudyStatus,
  type VariantStatus,
} from '../../api/study.js';
import {
  parseTrainingStudy,
  screeningRunSpec,
  type ParsedTrainingStudy,
  type StudyVariant,
} from '../../api/study-load.js';
import { keepBest, screeningScore } from '../../api/study-screening.js';
import { studyInputs, studyTable } from '../../api/study-table.js';
import type { Condition } from '../../api/status.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { InputError, describeError } from '../../common/errors.js';
import { specHashOf } from './children.js';
import { ConditionType, Phase, findCondition, setCondition } from './conditions.js';
import { hashOf, names } from './names.js';
import type {
  EventSpec,
  SeedRecipeManifest,
  TrainingRecipeObject,
  TrainingStudyObject,
} from './types.js';

const FINISHED: ReadonlySet<string> = new Set([Phase.Succeeded, Phase.Failed]);

type Meta = TrainingStudyObject['metadata'];
type Stage = 'screen' | 'full';

export interface StudyPlan {
  /** The whole new status, or null when it equals the observed one (no write). */
  statusPatch: TrainingStudyStatus | null;
  /** Child recipes to server-side apply (missing, or their spec differs). */
  applies: SeedRecipeManifest[];
  events: EventSpec[];
}

/** The child recipe of one variant and stage, with the content hash the planner compares. */
export function buildStudyRecipe(
  meta: Meta,
  variant: StudyVariant,
  stage: Stage,
  spec: TrainingRecipeSpec,
): SeedRecipeManifest {
  const backend = meta.annotations?.[ANNOTATION_BACKEND];
  const name =
    stage === 'full'
      ? names.studyRecipe(meta.name, variant.index)
      : names.studyScreenRecipe(meta.name, variant.index);
  const obj: SeedRecipeManifest = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name,
      namespace: meta.namespace,
      labels: {
        [LABEL_STUDY_OF]: meta.name,
        [LABEL_STUDY_STAGE]: stage,
        [LABEL_MANAGED_BY]: MANAGED_BY,
      },
      annotations: {
        [ANNOTATION_STUDY_VARIANT]: variant.name,
        ...(backend ? { [ANNOTATION_BACKEND]: backend } : {}),
      },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: STUDY_KIND,
          name: meta.name,
          uid: meta.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
  };
  obj.metadata.annotations = { ...obj.metadata.annotations, [ANNOTATION_SPEC_HASH]: hashOf(obj) };
  return obj;
}

/** The recipes a study owns (by uid), keyed by name. */
export function studyChildrenOf(
  recipes: readonly TrainingRecipeObject[],
  study: Meta,
): Map<string, TrainingRecipeObject> {
  const out = new Map<string, TrainingRecipeObject>();
  for (const r of recipes) {
    if (r.metadata.namespace !== study.namespace) continue;
    if (!r.metadata.ownerReferences?.some((o) => o.uid === study.uid)) continue;
    out.set(r.metadata.name, r);
  }
  return out;
}

class StudyDraft {
  readonly prev: TrainingStudyStatus;
  readonly status: TrainingStudyStatus;
  readonly applies: SeedRecipeManifest[] = [];
  readonly events: EventSpec[] = [];
  active: number;

  constructor(
    readonly study: TrainingStudyObject,
    readonly children: ReadonlyMap<string, TrainingRecipeObject>,
    readonly now: Date,
  ) {
    this.prev = study.status ?? {};
    this.status = structuredClone(this.prev);
    this.active = [...children.values()].filter((c) => !FINISHED.has(c.status?.phase ?? '')).length;
  }

  condition(type: string, status: Condition['status'], reason: string, message: string): void {
    this.status.conditions = setCondition(
      this.status.conditions,
      { type, status, reason, message },
      this.now,
    );
  }

  event(type: EventSpec['type'], reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  /**
   * The child of one variant and stage: created when missing (within the concurrency budget
   * and not suspended), re-applied when its spec differs and it has not finished.
   */
  ensure(
    variant: StudyVariant,
    stage: Stage,
    spec: TrainingRecipeSpec,
    budget: { concurrency: number; suspended: boolean },
  ): VariantStatus {
    const want = buildStudyRecipe(this.study.metadata, variant, stage, spec);
    const name = want.metadata.name!;
    const child = this.children.get(name);
    if (child) {
      const phase = child.status?.phase ?? Phase.Pending;
      if (!FINISHED.has(phase) && specHashOf(want) !== specHashOf(child)) this.applies.push(want);
      return { name: variant.name, recipe: name, phase, output: spec.output };
    }
    if (!budget.suspended && this.active < budget.concurrency) {
      this.active++;
      this.applies.push(want);
      this.event(
        'Normal',
        StudyReason.VariantRunCreated,
        `Created ${name} for ${stage === 'screen' ? 'the screening run of ' : ''}${variant.name}`,
      );
      return { name: variant.name, recipe: name, phase: Phase.Pending, output: spec.output };
    }
    return { name: variant.name, phase: Phase.Pending, output: spec.output };
  }

  seedsOf(v: VariantStatus) {
    return (v.recipe ? this.children.get(v.recipe)?.status?.seeds : undefined) ?? [];
  }

  result(): StudyPlan {
    const same = canonicalJson(this.status) === canonicalJson(this.prev);
    return { statusPatch: same ? null : this.status, applies: this.applies, events: this.events };
  }
}

export function planStudy(
  study: TrainingStudyObject,
  children: ReadonlyMap<string, TrainingRecipeObject>,
  now: Date,
): StudyPlan {
  const d = new StudyDraft(study, children, now);
  const { deletionTimestamp, generation } = study.metadata;
  // Being deleted: the garbage collector removes the children (owner references).
  if (deletionTimestamp) return d.result();
  if (generation !== undefined) d.status.observedGeneration = generation;

  let parsed: ParsedTrainingStudy;
  try {
    parsed = parseTrainingStudy(
      { apiVersion: API_VERSION, kind: STUDY_KIND, metadata: study.metadata, spec: study.spec },
      `${study.metadata.namespace}/${study.metadata.name}`,
    );
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    reject(d, describeError(err).replace(/\n\s*/g, '; '));
    return d.result();
  }
  readmit(d);
  // Finished: the status is the record of the study; children deleted later do not change it.
  if (FINISHED.has(d.status.phase ?? '')) return d.result();
  d.status.startTime ??= now.toISOString();

  const spec = parsed.spec;
  const budget = { concurrency: spec.concurrency, suspended: spec.base.runPolicy.suspend };
  let full: readonly StudyVariant[] = parsed.variants;
  let screened = true;
  if (spec.screening) {
    const sc = spec.screening;
    const rows = parsed.variants.map((v) =>
      d.ensure(v, 'screen', screeningRunSpec(spec, v, sc), budget),
    );
    screened = rows.every((r) => r.recipe !== undefined && FINISHED.has(r.phase));
    if (screened) {
      const scores = rows.map((r) => screeningScore(d.seedsOf(r)));
      const kept = new Set(keepBest(scores, sc.keep));
      rows.forEach((r, i) => {
        if (scores[i] !== undefined) r.score = scores[i];
        r.kept = kept.has(i);
      });
      full = parsed.variants.filter((_, i) => kept.has(i));
      const message = `kept ${full.map((v) => v.name).join(', ')} of ${rows.length} (best screened EMA Acc@1 after ${sc.screenEpochs} epochs)`;
      const before = d.prev.conditions?.find((c) => c.type === STUDY_CONDITION_SCREENED);
      if (before?.status !== 'True') {
        d.event('Normal', StudyReason.ScreeningDone, message);
      }
      d.condition(STUDY_CONDITION_SCREENED, 'True', StudyReason.ScreeningDone, message);
    } else {
      const done = rows.filter((r) => FINISHED.has(r.phase)).length;
      d.condition(
        STUDY_CONDITION_SCREENED,
        'False',
        StudyReason.Screening,
        `${done} of ${rows.length} screening run(s) finished`,
      );
    }
    d.status.screening = rows;
  }

  const variants = screened ? full.map((v) => d.ensure(v, 'full', v.spec, budget)) : [];
  d.status.variants = variants;
  const { inputs, caption } = studyInputs(
    variants.map((v) => ({ name: v.name, source: v.recipe ?? v.name, seeds: d.seedsOf(v) })),
    spec.figure,
    { allowEmpty: true },
  );
  const table = studyTable(inputs);
  d.status.figure = caption;
  d.status.table = table;
  const planned = screened ? variants.length : spec.screening!.keep;
  const finished = variants.filter((v) => FINISHED.has(v.phase));
  d.status.done = `${finished.length}/${planned}`;
  const best = [...table].sort((a, b) => b.acc1.mean - a.acc1.mean)[0];
  if (best) d.status.best = `${best.name} ${formatSpread({ n: best.n, ...best.acc1 })}`;
  else delete d.status.best;
  advance(d, screened, variants, budget.suspended);
  return d.result();
}

/** Phase and conditions from the variants'. */
function advance(
  d: StudyDraft,
  screened: boolean,
  variants: readonly VariantStatus[],
  suspended: boolean,
): void {
  const n = variants.length;
  if (screened && n > 0 && variants.every((v) => v.recipe && FINISHED.has(v.phase))) {
    const failed = variants.filter((v) => v.phase === Phase.Failed).map((v) => v.name);
    d.status.phase = failed.length === 0 ? Phase.Succeeded : Phase.Failed;
    d.status.completionTime = d.now.toISOString();
    const best = d.status.best ? `; best: ${d.status.best}` : '';
    if (failed.length === 0) {
      const msg = `all ${n} variant(s) succeeded${best}`;
      d.condition(ConditionType.Succeeded, 'True', StudyReason.AllVariantsSucceeded, msg);
      d.condition(ConditionType.Running, 'False', StudyReason.AllVariantsSucceeded, msg);
      d.event('Normal', StudyReason.AllVariantsSucceeded, msg);
    } else {
      const msg = `variant(s) ${failed.join(', ')} failed; the table holds the seeds that succeeded${best}`;
      d.condition(ConditionType.Failed, 'True', StudyReason.VariantsFailed, msg);
      d.condition(ConditionType.Running, 'False', StudyReason.VariantsFailed, msg);
      d.event('Warning', StudyReason.VariantsFailed, msg);
    }
    return;
  }
  const running = [...d.children.values()].filter((c) => c.status?.phase === Phase.Running).length;
  const phase: StudyPhase = suspended
    ? 'Suspended'
    : !screened
      ? 'Screening'
      : running > 0
        ? 'Running'
        : 'Pending';
  d.status.phase = phase;
  d.condition(
    ConditionType.Running,
    running > 0 ? 'True' : 'False',
    suspended ? StudyReason.SuspendedByUser : StudyReason.VariantsRunning,
    `${running} child recipe(s) running; ${d.status.done} full run(s) finished`,
  );
}

/** The spec does not parse: fail the study (once per distinct message). */
function reject(d: StudyDraft, message: string): void {
  const prevFailed = findCondition(d.prev.conditions, ConditionType.Failed);
  if (
    d.prev.phase === Phase.Failed &&
    prevFailed?.reason === StudyReason.InvalidStudy &&
    prevFailed.message === message
  ) {
    return;
  }
  d.status.phase = Phase.Failed;
  d.status.completionTime = d.now.toISOString();
  d.condition(ConditionType.Failed, 'True', StudyReason.InvalidStudy, message);
  d.condition(ConditionType.Running, 'False', StudyReason.InvalidStudy, 'the spec is invalid');
  d.event('Warning', StudyReason.InvalidStudy, message);
}

/** A study that failed validation gets another chance once its spec is fixed. */
function readmit(d: StudyDraft): void {
  const failed = findCondition(d.prev.conditions, ConditionType.Failed);
  if (d.prev.phase !== Phase.Failed || failed?.reason !== StudyReason.InvalidStudy) return;
  delete d.status.phase;
  delete d.status.completionTime;
  d.condition(ConditionType.Failed, 'False', StudyReason.InvalidStudy, 'the spec is valid now');
}
