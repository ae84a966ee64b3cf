/**
 * Every name the operator, the trainer and the chart must spell alike, declared once: the
 * API's group/version/kind, the labels and annotations on what the operator creates, the
 * ring's ports, the `RINGMASTER_*` environment, the exit codes of a worker and the progress
 * file. Pure data that imports nothing, so every room may import it (common/ included).
 */

// ---- The API ---------------------------------------------------------------------------

export const GROUP = 'ringmaster.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;
export const KIND = 'TrainingRecipe';
export const LIST_KIND = 'TrainingRecipeList';
export const PLURAL = 'trainingrecipes';
export const SINGULAR = 'trainingrecipe';
export const SHORT_NAMES: readonly string[] = Object.freeze(['recipe', 'tr']);
export const CATEGORIES: readonly string[] = Object.freeze(['ringmaster']);
/** metadata.name of the CRD object. */
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** REST path of the recipes of one namespace (all namespaces when absent), or of one recipe. */
export function recipesPath(namespace?: string, name?: string): string {
  const base = namespace ? `/apis/${API_VERSION}/namespaces/${namespace}` : `/apis/${API_VERSION}`;
  return name === undefined ? `${base}/${PLURAL}` : `${base}/${PLURAL}/${name}`;
}

// ---- Labels and annotations ------------------------------------------------------------

/** On every child of a recipe: the recipe's name (the Service and NetworkPolicy select it). */
export const LABEL_RECIPE = `${GROUP}/recipe`;
/** On worker pods: the rank. */
export const LABEL_RANK = `${GROUP}/rank`;
/** On worker pods: the worker group (status.groupGeneration) they belong to. */
export const LABEL_GENERATION = `${GROUP}/generation`;
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
/** LABEL_COMPONENT of worker pods, and of the placeholder pods that test for capacity to grow. */
export const COMPONENT_WORKER = 'worker';
export const COMPONENT_CAPACITY_PROBE = 'capacity-probe';
export const MANAGED_BY = 'ringmaster-operator';

/** sha256 of the desired content of a child, so steady state needs no write to compare. */
export const ANNOTATION_SPEC_HASH = `${GROUP}/spec-hash`;
/** Optional recipe annotation: forces the worker's compute backend (RINGMASTER_BACKEND). */
export const ANNOTATION_BACKEND = `${GROUP}/backend`;
/**
 * On worker pods: when the recipe's last complete checkpoint was written (RFC 3339), so a
 * scheduler choosing preemption victims can prefer the group that loses least.
 */
export const ANNOTATION_LAST_CHECKPOINT_TIME = `${GROUP}/last-checkpoint-time`;
/** reportingComponent of the operator's events. */
export const EVENT_REPORTER = `${GROUP}/operator`;

// ---- Kueue (sigs.k8s.io/kueue v0.17, plain pod groups: docs/adr/0096) ------------------
// Kueue's own spellings (pkg/controller/constants, pkg/controller/jobs/pod/constants).

/** On a recipe: the LocalQueue that admits it (copied to every worker pod). */
export const KUEUE_QUEUE_LABEL = 'kueue.x-k8s.io/queue-name';
/** On a recipe: its WorkloadPriorityClass (copied to every worker pod). */
export const KUEUE_PRIORITY_CLASS_LABEL = 'kueue.x-k8s.io/priority-class';
/** On worker pods: the pod group = the name of the Workload Kueue creates for it. */
export const KUEUE_POD_GROUP_LABEL = 'kueue.x-k8s.io/pod-group-name';
/** On worker pods: how many pods the group has (spec.workers). */
export const KUEUE_POD_GROUP_TOTAL_COUNT = 'kueue.x-k8s.io/pod-group-total-count';
/** On worker pods of a finished recipe ('false'): Kueue need not wait for replacements. */
export const KUEUE_RETRIABLE_IN_GROUP = 'kueue.x-k8s.io/retriable-in-group';
/** The scheduling gate Kueue's webhook adds and removes on admission. */
export const KUEUE_ADMISSION_GATE = 'kueue.x-k8s.io/admission';
/** The pod condition Kueue sets (reason WorkloadEvicted, …) before it deletes a group's pods. */
export const KUEUE_TERMINATION_TARGET = 'TerminationTarget';
export const KUEUE_API_VERSION = 'kueue.x-k8s.io/v1beta2';

/** REST path of Kueue's Workloads of one namespace (all namespaces when absent). */
export function kueueWorkloadsPath(namespace?: string): string {
  const base = `/apis/${KUEUE_API_VERSION}`;
  return namespace ? `${base}/namespaces/${namespace}/workloads` : `${base}/workloads`;
}

// ---- Ports -----------------------------------------------------------------------------

/** Rendezvous and collectives (gRPC): rank 0's coordinator and every rank's own server. */
export const RING_PORT = 29500;
export const RING_PORT_NAME = 'ring';
/** The TCP data plane of the collectives: the worker's default is the ring port + 1. */
export const RING_DATA_PORT = RING_PORT + 1;
export const RING_DATA_PORT_NAME = 'ring-data';

// ---- Environment -----------------------------------------------------------------------

/**
 * A worker's environment: set by the operator (pods) or the local launcher (processes), read
 * once by `ringmaster worker` (trainer/worker-config.ts).
 */
export const WorkerEnv = Object.freeze({
  rank: 'RINGMASTER_RANK',
  worldSize: 'RINGMASTER_WORLD_SIZE',
  /** host:port of rank 0's rendezvous service. */
  coordinator: 'RINGMASTER_COORDINATOR',
  /** The job token every collective call carries (from the recipe's Secret). */
  token: 'RINGMASTER_TOKEN',
  /** Path of the resolved recipe (the ConfigMap's recipe.json in a pod). */
  recipe: 'RINGMASTER_RECIPE',
  /** The worker group (status.groupGeneration): a stale member never mixes in. */
  generation: 'RINGMASTER_GENERATION',
  /** The pod's IP (downward API): the address a rank advertises by default. */
  podIp: 'RINGMASTER_POD_IP',
  /** Port of the ring when listen/coordinator are not given (default RING_PORT). */
  port: 'RINGMASTER_PORT',
  listen: 'RINGMASTER_LISTEN',
  advertise: 'RINGMASTER_ADVERTISE',
  /** Where the TCP data plane listens (default: the listen port + 1). */
  dataListen: 'RINGMASTER_DATA_LISTEN',
  /** How frames travel between ranks: tcp (default) or grpc. */
  transport: 'RINGMASTER_COMM_TRANSPORT',
  /** TCP connections per neighbour pair, each carrying a part of every all-reduce (default 1). */
  commChannels: 'RINGMASTER_COMM_CHANNELS',
  rendezvousTimeoutMs: 'RINGMASTER_RENDEZVOUS_TIMEOUT_MS',
  opTimeoutMs: 'RINGMASTER_OP_TIMEOUT_MS',
  /** Forces the compute backend (the recipe annotation ANNOTATION_BACKEND sets it in pods). */
  backend: 'RINGMASTER_BACKEND',
  /** The recipe's data.endpoint: an S3-compatible endpoint for shards and output. */
  s3Endpoint: 'RINGMASTER_S3_ENDPOINT',
  cacheDir: 'RINGMASTER_CACHE_DIR',
  /** '1': resume a checkpoint although the recipe's hash changed. */
  allowRecipeChange: 'RINGMASTER_ALLOW_RECIPE_CHANGE',
  /** Threads of the compute backend's pools; 0 or absent: the container's CPU limit. */
  computeThreads: 'RINGMASTER_COMPUTE_THREADS',
  /** The pod's terminationGracePeriodSeconds: the budget of the checkpoint on SIGTERM. */
  terminationGraceSeconds: 'RINGMASTER_TERMINATION_GRACE_SECONDS',
  /** runPolicy.hangTimeoutSeconds; absent: derived from the measured step time. */
  hangTimeoutSeconds: 'RINGMASTER_HANG_TIMEOUT_SECONDS',
  /**
   * Where a failing worker writes its verdict as one JSON line (`TerminationNote`): the pod's
   * terminationMessagePath in a cluster, so the operator reads it from the pod status.
   */
  terminationLog: 'RINGMASTER_TERMINATION_LOG',
  /**
   * The container's CPU request in millicores (the operator sets it through the downward API;
   * the local launcher sets the machine's cores ÷ ranks): the CPU share when no limit is set.
   */
  cpuRequestMillicores: 'RINGMASTER_CPU_REQUEST_MILLICORES',
  /** Where the cgroup filesystem is mounted (default /sys/fs/cgroup); tests point it at a fake. */
  cgroupRoot: 'RINGMASTER_CGROUP_ROOT',
  /** Decode/augment threads of the data loader (spec.dataLoader.workers); absent: derived. */
  loaderWorkers: 'RINGMASTER_LOADER_WORKERS',
  /** Batches the loader prepares ahead (spec.dataLoader.prefetchBatches); absent: derived. */
  prefetchBatches: 'RINGMASTER_PREFETCH_BATCHES',
  /**
   * Gradient all-reduce during the backward pass: 'on', 'off', or 'auto' (default: on where
   * the device computes asynchronously, i.e. on a GPU; ADR 0090).
   */
  overlapAllReduce: 'RINGMASTER_OVERLAP_ALLREDUCE',
} as const);

/** The operator's settings (the Helm chart sets them; operator/config.ts reads them). */
export const OperatorEnv = Object.freeze({
  watchNamespaces: 'RINGMASTER_WATCH_NAMESPACES',
  httpPort: 'RINGMASTER_HTTP_PORT',
  httpHost: 'RINGMASTER_HTTP_HOST',
  healthPort: 'RINGMASTER_HEALTH_PORT',
  leaderElection: 'RINGMASTER_LEADER_ELECTION',
  leaseName: 'RINGMASTER_LEASE_NAME',
  leaseDurationSeconds: 'RINGMASTER_LEASE_DURATION_SECONDS',
  renewDeadlineSeconds: 'RINGMASTER_RENEW_DEADLINE_SECONDS',
  retryPeriodSeconds: 'RINGMASTER_RETRY_PERIOD_SECONDS',
  concurrency: 'RINGMASTER_CONCURRENCY',
  relistSeconds: 'RINGMASTER_RELIST_SECONDS',
  resyncSeconds: 'RINGMASTER_RESYNC_SECONDS',
  defaultImage: 'RINGMASTER_DEFAULT_IMAGE',
  defaultGpuImage: 'RINGMASTER_DEFAULT_GPU_IMAGE',
  workerCommand: 'RINGMASTER_WORKER_COMMAND',
  operatorPodLabels: 'RINGMASTER_OPERATOR_POD_LABELS',
  nodeLostGraceSeconds: 'RINGMASTER_NODE_LOST_GRACE_SECONDS',
  forceDeleteAfterSeconds: 'RINGMASTER_FORCE_DELETE_AFTER_SECONDS',
  successGraceSeconds: 'RINGMASTER_SUCCESS_GRACE_SECONDS',
  restartBackoffSeconds: 'RINGMASTER_RESTART_BACKOFF_SECONDS',
  restartBackoffMaxSeconds: 'RINGMASTER_RESTART_BACKOFF_MAX_SECONDS',
  progressIntervalSeconds: 'RINGMASTER_PROGRESS_INTERVAL_SECONDS',
  workerTerminationGraceSeconds: 'RINGMASTER_WORKER_TERMINATION_GRACE_SECONDS',
} as const);

/** Read by every `ringmaster` process, the operator's included. */
export const ProcessEnv = Object.freeze({
  /** pino level of the one logger (default info). */
  logLevel: 'RINGMASTER_LOG_LEVEL',
  /** The CLI's cache of generated datasets (default ~/.cache/ringmaster). */
  cache: 'RINGMASTER_CACHE',
  /** Path or name of libturbojpeg, the JPEG decoder of the data pipeline. */
  turbojpeg: 'RINGMASTER_TURBOJPEG',
  /**
   * The weights registry `--weights NAME` resolves in when `--registry` is not given
   * (`predict`, `eval`, `weights list|show|publish`): a local path or s3://bucket/prefix.
   */
  weightsRegistry: 'RINGMASTER_WEIGHTS_REGISTRY',
} as const);

/**
 * Read by the test suites and .ci/run only (never by shipped code): which cluster the
 * `npm run test:cluster` journey runs on (docs/deploy.md, "Which e2e runs where").
 */
export const TestEnv = Object.freeze({
  /** `local` (default: the real node on this machine), `kind`, or `kubeconfig`. */
  e2eTarget: 'RINGMASTER_E2E_TARGET',
  /** Any cluster: its kubeconfig (implies target `kubeconfig`). */
  e2eKubeconfig: 'RINGMASTER_E2E_KUBECONFIG',
  /** Any cluster: the registry the images are pushed to and pulled from (e.g. reg.example:5000/ml). */
  e2eRegistry: 'RINGMASTER_E2E_REGISTRY',
  /** `cpu` or `gpu` to override the suite's choice (GPU when the cluster has nvidia.com/gpu). */
  e2eAccelerator: 'RINGMASTER_E2E_ACCELERATOR',
  /** `0` keeps the real-node tier out of .ci/run (it is in by default). */
  clusterTests: 'RINGMASTER_CLUSTER_TESTS',
} as const);

// ---- Exit codes ------------------------------------------------------------------------

/**
 * Exit codes of the `ringmaster` processes. The trainer's typed errors carry them
 * (common/errors.ts); the operator reads them from terminated pods to decide on a retry.
 */
export const ExitCode = Object.freeze({
  ok: 0,
  /** A bug or an unexpected failure: retried by the operator up to backoffLimit. */
  internal: 1,
  /** Bad input (invalid recipe, bad URI, bad flag): never retried. */
  invalidInput: 2,
  /** A transient failure (peer died, storage unreachable, preempted): restart the group. */
  retryable: 75,
  /** The group stopped making progress (a rank hung past the hang timeout): restart it. */
  hang: 76,
  /** Stopped on request (SIGINT/SIGTERM) after a clean checkpoint. */
  interrupted: 130,
} as const);
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

// ---- Files under the recipe's output ----------------------------------------------------

/** A pod's default terminationMessagePath (the kubelet mounts it writable). */
export const TERMINATION_LOG_PATH = '/dev/termination-log';

/** `<output>/progress.json`: rank 0 writes it, the operator reads it (api/progress.ts). */
export const PROGRESS_FILE = 'progress.json';

// ---- Seeds (spec.seeds: one run per seed) ------------------------------------------------

/** `<output>/seed-<n>/`: the output of seed n's run when spec.seeds is set (api/seeds.ts). */
export const SEED_DIR_PREFIX = 'seed-';
/** `<output>/seeds.json`: the per-seed results and their summary (`train --local --seeds`). */
export const SEEDS_FILE = 'seeds.json';
/** `<output>/report.html` of a multi-seed run: the seeds' curves overlaid, the summary. */
export const SEEDS_REPORT_FILE = 'report.html';
/** An eval-only recipe's results (spec.mode: eval), in its output. */
export const EVAL_FILE = 'eval.json';
/** On a seed's child TrainingRecipe: the parent recipe's name. */
export const LABEL_SEED_OF = `${GROUP}/seed-of`;
/** On a seed's child TrainingRecipe: its seed. */
export const LABEL_SEED = `${GROUP}/seed`;

// ---- Studies (TrainingStudy: an ablation ladder or grid of recipes) ----------------------

export const STUDY_KIND = 'TrainingStudy';
export const STUDY_LIST_KIND = 'TrainingStudyList';
export const STUDY_PLURAL = 'trainingstudies';
export const STUDY_SINGULAR = 'trainingstudy';
export const STUDY_SHORT_NAMES: readonly string[] = Object.freeze(['study', 'ts']);
export const STUDY_CRD_NAME = `${STUDY_PLURAL}.${GROUP}`;

/** REST path of the studies of one namespace (all namespaces when absent), or of one study. */
export function studiesPath(namespace?: string, name?: string): string {
  const base = namespace ? `/apis/${API_VERSION}/namespaces/${namespace}` : `/apis/${API_VERSION}`;
  return name === undefined ? `${base}/${STUDY_PLURAL}` : `${base}/${STUDY_PLURAL}/${name}`;
}

/** On a study's child TrainingRecipe: the study's name. */
export const LABEL_STUDY_OF = `${GROUP}/study-of`;
/** On a study's child TrainingRecipe: `screen` (a short screening run) or `full`. */
export const LABEL_STUDY_STAGE = `${GROUP}/study-stage`;
/** On a study's child TrainingRecipe: the variant's row name (may hold `=` and `,`). */
export const ANNOTATION_STUDY_VARIANT = `${GROUP}/variant`;
/** `<output>/screen/`: where a study's screening runs write, one folder per variant. */
export const STUDY_SCREEN_DIR = 'screen';
/** `<output>/study.json` and `study.md`: the table of `ringmaster study STUDY.yaml --local`. */
export const STUDY_FILE = 'study.json';
export const STUDY_MARKDOWN_FILE = 'study.md';
