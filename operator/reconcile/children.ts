/**
 * Builders of a recipe's children. Pure: the same recipe, generation and settings give the
 * same objects, and each non-pod child carries a hash of its content so the planner can tell
 * "already as desired" from the cache alone (zero writes in steady state).
 */
import type * as k8s from '@kubernetes/client-node';
import {
  ANNOTATION_BACKEND,
  ANNOTATION_LAST_CHECKPOINT_TIME,
  ANNOTATION_SPEC_HASH,
  API_VERSION,
  COMPONENT_CAPACITY_PROBE,
  COMPONENT_WORKER,
  KIND,
  LABEL_COMPONENT,
  LABEL_GENERATION,
  LABEL_MANAGED_BY,
  LABEL_RANK,
  LABEL_RECIPE,
  MANAGED_BY,
  RING_DATA_PORT,
  RING_DATA_PORT_NAME,
  RING_PORT,
  RING_PORT_NAME,
  TERMINATION_LOG_PATH,
  WorkerEnv,
} from '../../api/names.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import {
  RECIPE_FILE,
  RECIPE_MOUNT_DIR,
  SCRATCH_DIR,
  TOKEN_KEY,
  WORKER_CONTAINER,
  hashOf,
  names,
} from './names.js';
import { kueuePodMeta } from './kueue.js';
import type { PlannerSettings, TrainingRecipeObject } from './types.js';

type Meta = TrainingRecipeObject['metadata'];

export function ownerReference(meta: Meta): k8s.V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: meta.name,
    uid: meta.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function childMeta(meta: Meta, name: string, component: string): k8s.V1ObjectMeta {
  return {
    name,
    namespace: meta.namespace,
    labels: {
      [LABEL_RECIPE]: meta.name,
      [LABEL_COMPONENT]: component,
      [LABEL_MANAGED_BY]: MANAGED_BY,
    },
    ownerReferences: [ownerReference(meta)],
  };
}

/** Stamps the content hash into the annotations (computed without the annotation itself). */
function withHash<T extends { metadata?: k8s.V1ObjectMeta }>(obj: T): T {
  const hash = hashOf(obj);
  obj.metadata = {
    ...obj.metadata,
    annotations: { ...obj.metadata?.annotations, [ANNOTATION_SPEC_HASH]: hash },
  };
  return obj;
}

export function specHashOf(obj: { metadata?: k8s.V1ObjectMeta } | undefined): string | undefined {
  return obj?.metadata?.annotations?.[ANNOTATION_SPEC_HASH];
}

/** The ring token Secret. `token` is only used on first creation; it is never rotated. */
export function buildSecret(meta: Meta, token: string): k8s.V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMeta(meta, names.secret(meta.name), 'ring-token'),
    type: 'Opaque',
    data: { [TOKEN_KEY]: Buffer.from(token).toString('base64') },
  };
}

/**
 * The resolved recipe (defaults filled in) as the manifest the trainer loads. The run policy
 * is the operator's business, left out so suspending or changing a deadline rewrites nothing.
 */
export function buildConfigMap(meta: Meta, spec: TrainingRecipeSpec): k8s.V1ConfigMap {
  const { runPolicy: _runPolicy, ...trainerSpec } = spec;
  const manifest = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: meta.name, namespace: meta.namespace },
    spec: trainerSpec,
  };
  return withHash({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(meta, names.configMap(meta.name), 'recipe'),
    data: { [RECIPE_FILE]: JSON.stringify(manifest, null, 2) },
  });
}

/** Headless, and publishing not-ready addresses: ranks must resolve each other while starting. */
export function buildService(meta: Meta): k8s.V1Service {
  return withHash({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(meta, names.service(meta.name), 'ring'),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { [LABEL_RECIPE]: meta.name },
      ports: [
        { name: RING_PORT_NAME, port: RING_PORT, targetPort: RING_PORT, protocol: 'TCP' },
        {
          name: RING_DATA_PORT_NAME,
          port: RING_DATA_PORT,
          targetPort: RING_DATA_PORT,
          protocol: 'TCP',
        },
      ],
    },
  });
}

/** Only the recipe's own pods and the operator may reach the ring ports; nothing else gets in. */
export function buildNetworkPolicy(meta: Meta, settings: PlannerSettings): k8s.V1NetworkPolicy {
  return withHash({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(meta, names.networkPolicy(meta.name), 'ring'),
    spec: {
      podSelector: { matchLabels: { [LABEL_RECIPE]: meta.name } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            { podSelector: { matchLabels: { [LABEL_RECIPE]: meta.name } } },
            {
              namespaceSelector: {
                matchLabels: { 'kubernetes.io/metadata.name': settings.operatorNamespace },
              },
              podSelector: { matchLabels: { ...settings.operatorPodLabels } },
            },
          ],
          ports: [
            { port: RING_PORT, protocol: 'TCP' },
            { port: RING_DATA_PORT, protocol: 'TCP' },
          ],
        },
      ],
    },
  });
}

/**
 * The worker image: the recipe's own, else the GPU image for recipes with GPUs and the CPU
 * image for the rest (the chart's workerImage.gpuTag / .tag; docs/operator.md).
 */
export function workerImage(spec: TrainingRecipeSpec, settings: PlannerSettings): string {
  return spec.image ?? (spec.gpusPerWorker > 0 ? settings.defaultGpuImage : settings.defaultImage);
}

/**
 * The compute backend a worker must run on (RINGMASTER_BACKEND): TensorFlow on the GPU for
 * recipes with GPUs, on the CPU for the rest, so a worker whose image or node cannot provide
 * it exits 2 naming the cause instead of training on a slower backend. Also with spec.image
 * (an image is expected to be built from trainer/Dockerfile{,.gpu}); the recipe annotation
 * ringmaster.dev/backend overrides it (e.g. `wasm` for an image without TensorFlow).
 */
export function workerBackend(meta: Meta, spec: TrainingRecipeSpec): string {
  const chosen = meta.annotations?.[ANNOTATION_BACKEND];
  if (chosen) return chosen;
  return spec.gpusPerWorker > 0 ? 'tensorflow-gpu' : 'tensorflow';
}

/** SIGTERM → SIGKILL for workers: the recipe's runPolicy, else the operator's default. */
export function terminationGraceSeconds(
  spec: TrainingRecipeSpec,
  settings: PlannerSettings,
): number {
  return spec.runPolicy.terminationGracePeriodSeconds ?? settings.terminationGracePeriodSeconds;
}

export interface PodInputs {
  meta: Meta;
  spec: TrainingRecipeSpec;
  rank: number;
  generation: number;
  settings: PlannerSettings;
  /** status.lastCheckpoint.time, if any: the pod's ANNOTATION_LAST_CHECKPOINT_TIME. */
  lastCheckpointTime?: string | undefined;
  /** Pods in this group (RINGMASTER_WORLD_SIZE): spec.workers, or fewer (runPolicy.elastic). */
  worldSize?: number;
}

export function buildPod({
  meta,
  spec,
  rank,
  generation,
  settings,
  lastCheckpointTime,
  worldSize = spec.workers,
}: PodInputs): k8s.V1Pod {
  const kueue = kueuePodMeta(meta, worldSize);
  const hostname = names.pod(meta.name, rank);
  const name = kueue ? names.groupPod(meta.name, rank, generation) : hostname;
  const env: k8s.V1EnvVar[] = [
    { name: WorkerEnv.rank, value: String(rank) },
    { name: WorkerEnv.worldSize, value: String(worldSize) },
    {
      name: WorkerEnv.coordinator,
      value: `${names.podHost(meta.name, meta.namespace, 0)}:${RING_PORT}`,
    },
    {
      name: WorkerEnv.token,
      valueFrom: { secretKeyRef: { name: names.secret(meta.name), key: TOKEN_KEY } },
    },
    { name: WorkerEnv.recipe, value: `${RECIPE_MOUNT_DIR}/${RECIPE_FILE}` },
    { name: WorkerEnv.generation, value: String(generation) },
    // Peers dial the address a rank advertises: its own pod IP.
    { name: WorkerEnv.podIp, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    // Listen on the pod's own address ($(VAR) is expanded by the kubelet): the same in a
    // cluster as 0.0.0.0, and it keeps ranks apart where pods share a host (the node agent).
    { name: WorkerEnv.listen, value: `$(${WorkerEnv.podIp}):${RING_PORT}` },
    { name: 'TMPDIR', value: SCRATCH_DIR },
    // The root filesystem is read-only; tools that write under $HOME get the scratch volume.
    { name: 'HOME', value: SCRATCH_DIR },
  ];
  env.push({ name: WorkerEnv.backend, value: workerBackend(meta, spec) });
  const grace = terminationGraceSeconds(spec, settings);
  env.push({ name: WorkerEnv.terminationGraceSeconds, value: String(grace) });
  env.push({ name: WorkerEnv.terminationLog, value: TERMINATION_LOG_PATH });
  if (spec.runPolicy.hangTimeoutSeconds !== undefined) {
    env.push({
      name: WorkerEnv.hangTimeoutSeconds,
      value: String(spec.runPolicy.hangTimeoutSeconds),
    });
  }
  if (spec.data.endpoint) env.push({ name: WorkerEnv.s3Endpoint, value: spec.data.endpoint });
  env.push(...threadEnv(spec));

  const limits: Record<string, string> = { ...stringify(spec.resources?.limits) };
  const requests: Record<string, string> = { ...stringify(spec.resources?.requests) };
  if (spec.gpusPerWorker > 0) {
    limits['nvidia.com/gpu'] = String(spec.gpusPerWorker);
    delete requests['nvidia.com/gpu'];
  }
  const resources: k8s.V1ResourceRequirements = {};
  if (Object.keys(limits).length > 0) resources.limits = limits;
  if (Object.keys(requests).length > 0) resources.requests = requests;

  const container: k8s.V1Container = {
    name: WORKER_CONTAINER,
    image: workerImage(spec, settings),
    command: [...settings.workerCommand],
    env,
    ports: [
      { name: RING_PORT_NAME, containerPort: RING_PORT, protocol: 'TCP' },
      { name: RING_DATA_PORT_NAME, containerPort: RING_DATA_PORT, protocol: 'TCP' },
    ],
    resources,
    volumeMounts: [
      { name: 'recipe', mountPath: RECIPE_MOUNT_DIR, readOnly: true },
      { name: 'scratch', mountPath: SCRATCH_DIR },
    ],
    // The last log lines land in the pod status: the reason for a failure survives the
    // group's deletion in the operator's Warning event.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    },
  };
  if (spec.data.credentialsSecret)
    container.envFrom = [{ secretRef: { name: spec.data.credentialsSecret } }];

  const pod: k8s.V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: meta.namespace,
      labels: {
        [LABEL_RECIPE]: meta.name,
        [LABEL_RANK]: String(rank),
        [LABEL_GENERATION]: String(generation),
        [LABEL_COMPONENT]: COMPONENT_WORKER,
        [LABEL_MANAGED_BY]: MANAGED_BY,
        ...kueue?.labels,
      },
      ownerReferences: [ownerReference(meta)],
      ...(lastCheckpointTime || kueue
        ? {
            annotations: {
              ...kueue?.annotations,
              ...(lastCheckpointTime
                ? { [ANNOTATION_LAST_CHECKPOINT_TIME]: lastCheckpointTime }
                : {}),
            },
          }
        : {}),
    },
    spec: {
      hostname,
      subdomain: names.service(meta.name),
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: grace,
      // Workers never talk to the Kubernetes API: progress goes to S3, not to the status.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        fsGroup: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [container],
      volumes: [
        { name: 'recipe', configMap: { name: names.configMap(meta.name) } },
        { name: 'scratch', emptyDir: {} },
      ],
    },
  };
  if (spec.nodeSelector) pod.spec!.nodeSelector = { ...spec.nodeSelector };
  if (spec.tolerations) pod.spec!.tolerations = spec.tolerations.map((t) => ({ ...t }));
  return pod;
}

/**
 * A capacity probe (runPolicy.elastic): a pod that asks for exactly what one missing worker
 * would — resources, GPUs, node selector, tolerations — and only sleeps. The scheduler places
 * it like a worker; once the probes for every missing worker have run for graceSeconds, the
 * group grows (the probes go first, so the workers take their place).
 */
export function buildProbe(
  meta: Meta,
  spec: TrainingRecipeSpec,
  i: number,
  settings: PlannerSettings,
): k8s.V1Pod {
  const worker = buildPod({ meta, spec, rank: 0, generation: 0, settings });
  const w = worker.spec!.containers[0]!;
  const pod: k8s.V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: names.probe(meta.name, i),
      namespace: meta.namespace,
      labels: {
        [LABEL_RECIPE]: meta.name,
        [LABEL_COMPONENT]: COMPONENT_CAPACITY_PROBE,
        [LABEL_MANAGED_BY]: MANAGED_BY,
      },
      ownerReferences: [ownerReference(meta)],
    },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: worker.spec!.securityContext!,
      containers: [
        {
          name: 'probe',
          image: w.image!,
          command: ['sleep', 'infinity'],
          resources: w.resources!,
          securityContext: w.securityContext!,
        },
      ],
    },
  };
  if (spec.nodeSelector) pod.spec!.nodeSelector = { ...spec.nodeSelector };
  if (spec.tolerations) pod.spec!.tolerations = spec.tolerations.map((t) => ({ ...t }));
  return pod;
}

/**
 * What the worker sizes its data loader by: spec.dataLoader when given, and the container's
 * CPU request (a pod with a request and no limit has no cgroup quota to read).
 */
function threadEnv(spec: TrainingRecipeSpec): k8s.V1EnvVar[] {
  const env: k8s.V1EnvVar[] = [];
  const dl = spec.dataLoader;
  if (dl?.workers !== undefined)
    env.push({ name: WorkerEnv.loaderWorkers, value: String(dl.workers) });
  if (dl?.prefetchBatches !== undefined)
    env.push({ name: WorkerEnv.prefetchBatches, value: String(dl.prefetchBatches) });
  if (spec.resources?.requests?.cpu !== undefined || spec.resources?.limits?.cpu !== undefined) {
    env.push({
      name: WorkerEnv.cpuRequestMillicores,
      valueFrom: {
        resourceFieldRef: {
          containerName: WORKER_CONTAINER,
          resource: 'requests.cpu',
          divisor: '1m',
        },
      },
    });
  }
  return env;
}

function stringify(list: Record<string, string | number> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(list ?? {})) out[k] = String(v);
  return out;
}
