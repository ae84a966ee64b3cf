import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { restartDelaySeconds } from '../../../operator/reconcile/plan.js';
import { ConditionType, Phase, Reason } from '../../../operator/reconcile/conditions.js';
import type { Plan } from '../../../operator/reconcile/types.js';
import {
  T0,
  aPod,
  aRecipe,
  applyStatus,
  at,
  condition,
  ctxAt,
  group,
  kinds,
  observe,
  planFor,
  podActions,
} from './builders.js';

const created = (plan: Plan) =>
  plan.actions.flatMap((a) => (a.kind === 'createPod' ? [a.pod] : []));
const deleted = (plan: Plan) => plan.actions.flatMap((a) => (a.kind === 'deletePod' ? [a] : []));
const envOf = (pod: k8s.V1Pod) =>
  Object.fromEntries(pod.spec!.containers[0]!.env!.map((e) => [e.name, e.value ?? e.valueFrom]));

describe('operator plan: planRecipe', () => {
  describe('creation', () => {
    it('creates the children and the whole group in one pass, Pending with generation 1', () => {
      const recipe = aRecipe('r').withWorkers(4).obj();
      const plan = planFor(recipe, observe([]), ctxAt(0));
      assert.equal(plan.statusPatch?.phase, Phase.Pending);
      assert.equal(plan.statusPatch?.groupGeneration, 1);
      assert.equal(plan.statusPatch?.restarts, 0);
      assert.equal(plan.statusPatch?.startTime, T0.toISOString());
      assert.equal(plan.statusPatch?.observedGeneration, 1);
      const applied = plan.actions.flatMap((a) => (a.kind === 'apply' ? [a.object.kind] : []));
      assert.deepEqual(applied.sort(), ['ConfigMap', 'NetworkPolicy', 'Secret', 'Service']);
      assert.deepEqual(
        created(plan).map((p) => p.metadata!.name),
        ['r-worker-0', 'r-worker-1', 'r-worker-2', 'r-worker-3'],
      );
      assert.ok(plan.events.some((e) => e.reason === Reason.ChildrenCreated));
      assert.equal(condition(plan.statusPatch, ConditionType.Running)?.status, 'False');
    });

    it('builds worker pods with rank, DNS name, token, recipe, GPUs and a locked-down container', () => {
      const recipe = aRecipe('r')
        .withWorkers(3)
        .withSpec({
          image: 'my/trainer:1',
          resources: { limits: { memory: '8Gi' }, requests: { cpu: 4 } },
          nodeSelector: { pool: 'gpu' },
          tolerations: [{ key: 'spot', operator: 'Exists', effect: 'NoSchedule' }],
        })
        .withAnnotation('ringmaster.dev/backend', 'wasm')
        .obj();
      const plan = planFor(recipe, observe([]), ctxAt(0));
      const pod = created(plan)[2]!;
      const c = pod.spec!.containers[0]!;
      assert.deepEqual(pod.metadata!.labels!['ringmaster.dev/rank'], '2');
      assert.deepEqual(pod.metadata!.labels!['ringmaster.dev/generation'], '1');
      assert.deepEqual(pod.metadata!.ownerReferences, [
        {
          apiVersion: 'ringmaster.dev/v1alpha1',
          kind: 'TrainingRecipe',
          name: 'r',
          uid: 'uid-r',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      assert.equal(pod.spec!.hostname, 'r-worker-2');
      assert.equal(pod.spec!.subdomain, 'r-ring');
      assert.equal(pod.spec!.restartPolicy, 'Never');
      assert.equal(pod.spec!.automountServiceAccountToken, false);
      const env = envOf(pod);
      assert.equal(env.RINGMASTER_RANK, '2');
      assert.equal(env.RINGMASTER_WORLD_SIZE, '3');
      assert.equal(env.RINGMASTER_COORDINATOR, 'r-worker-0.r-ring.ml.svc:29500');
      assert.deepEqual(env.RINGMASTER_TOKEN, {
        secretKeyRef: { name: 'r-ring-token', key: 'token' },
      });
      assert.equal(env.RINGMASTER_RECIPE, '/etc/ringmaster/recipe.json');
      assert.equal(env.RINGMASTER_GENERATION, '1');
      assert.deepEqual(env.RINGMASTER_POD_IP, { fieldRef: { fieldPath: 'status.podIP' } });
      assert.equal(env.RINGMASTER_LISTEN, '$(RINGMASTER_POD_IP):29500');
      assert.equal(env.RINGMASTER_BACKEND, 'wasm');
      assert.equal(env.RINGMASTER_S3_ENDPOINT, 'http://minio:9000');
      assert.equal(env.TMPDIR, '/scratch');
      assert.deepEqual(c.envFrom, [{ secretRef: { name: 's3-creds' } }]);
      assert.deepEqual(c.command, ['ringmaster', 'worker']);
      assert.equal(c.image, 'my/trainer:1');
      assert.deepEqual(c.resources, {
        limits: { memory: '8Gi', 'nvidia.com/gpu': '1' },
        requests: { cpu: '4' },
      });
      assert.deepEqual(c.securityContext, {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      assert.deepEqual(c.ports, [
        { name: 'ring', containerPort: 29500, protocol: 'TCP' },
        { name: 'ring-data', containerPort: 29501, protocol: 'TCP' },
      ]);
      assert.deepEqual(pod.spec!.nodeSelector, { pool: 'gpu' });
      assert.equal(pod.spec!.tolerations?.[0]?.key, 'spot');
      const vols = Object.fromEntries(pod.spec!.volumes!.map((v) => [v.name, v]));
      assert.deepEqual(vols.recipe!.configMap, { name: 'r-recipe' });
      assert.deepEqual(vols.scratch!.emptyDir, {});
      assert.ok(c.volumeMounts!.some((m) => m.mountPath === '/scratch' && !m.readOnly));
    });

    it('puts no GPU limit on CPU workers and uses the default image', () => {
      const plan = planFor(aRecipe().withSpec({ gpusPerWorker: 0 }).obj(), observe([]), ctxAt(0));
      const c = created(plan)[0]!.spec!.containers[0]!;
      assert.equal(c.image, 'ghcr.io/ringmaster/trainer:test');
      assert.equal(c.resources?.limits?.['nvidia.com/gpu'], undefined);
    });

    it('writes the resolved recipe (defaults filled in) into the ConfigMap, and a headless Service', () => {
      const plan = planFor(aRecipe().obj(), observe([]), ctxAt(0));
      const doc = JSON.parse(plan.children.configMap!.data!['recipe.json']!);
      assert.equal(doc.kind, 'TrainingRecipe');
      assert.equal(doc.spec.recipe.lr, 0.5);
      assert.equal(doc.spec.workers, 2);
      assert.equal(plan.children.service!.spec!.clusterIP, 'None');
      assert.deepEqual(plan.children.service!.spec!.selector, { 'ringmaster.dev/recipe': 'r' });
      assert.equal(Buffer.from(plan.children.secret!.data!.token!, 'base64').toString(), 'token-1');
      // Wire format (`from`), not the client's renamed model field (`_from`).
      const from = (plan.children.networkPolicy!.spec!.ingress![0] as any).from;
      assert.deepEqual(from[0]!.podSelector!.matchLabels, { 'ringmaster.dev/recipe': 'r' });
      assert.equal(
        from[1]!.namespaceSelector!.matchLabels!['kubernetes.io/metadata.name'],
        'ringmaster-system',
      );
      // Both ring ports, the gRPC one and the TCP data plane (the worker's default: port + 1).
      const ports = (plan.children.networkPolicy!.spec!.ingress![0] as any).ports;
      assert.deepEqual(
        ports.map((p: { port: number }) => p.port),
        [29500, 29501],
      );
    });
  });

  describe('honest phases', () => {
    const first = planFor(aRecipe().withWorkers(2).obj(), observe([]), ctxAt(0));
    const children = first.children;
    const pending = applyStatus(aRecipe().withWorkers(2).obj(), first);

    it('stays Pending while a pod is unscheduled', () => {
      const pods = [aPod('r', 0).running().obj(), aPod('r', 1).obj()];
      const plan = planFor(pending, observe(pods, { children }), ctxAt(5));
      assert.equal(plan.statusPatch?.phase ?? pending.status!.phase, Phase.Pending);
      assert.deepEqual(podActions(plan), []);
    });

    it('is Starting when all pods are bound but not all run, and says why', () => {
      const pods = [
        aPod('r', 0).running().obj(),
        aPod('r', 1).on('node-b').waiting('ContainerCreating').obj(),
      ];
      const plan = planFor(pending, observe(pods, { children }), ctxAt(5));
      assert.equal(plan.statusPatch?.phase, Phase.Starting);
      assert.match(
        condition(plan.statusPatch, ConditionType.Running)!.message,
        /1\/2 workers running: 1× ContainerCreating/,
      );
    });

    it('names the image when a worker cannot pull it: ImagePullFailed, one Warning event', () => {
      const bad = aPod('r', 1).on('node-b').waiting('ImagePullBackOff').obj();
      bad.spec!.containers[0]!.image = 'registry.example/trainer:nope';
      bad.status!.containerStatuses![0]!.state!.waiting!.message = 'Back-off pulling image';
      const pods = [aPod('r', 0).running().obj(), bad];
      const plan = planFor(pending, observe(pods, { children }), ctxAt(5));
      assert.equal(plan.statusPatch?.phase, Phase.Starting);
      const c = condition(plan.statusPatch, ConditionType.Running)!;
      assert.equal(c.reason, Reason.ImagePullFailed);
      assert.equal(
        c.message,
        'image "registry.example/trainer:nope" cannot be pulled (ImagePullBackOff on r-worker-1: Back-off pulling image)',
      );
      assert.equal(plan.events.filter((e) => e.reason === Reason.ImagePullFailed).length, 1);
      // Already reported: the condition stays, no second event.
      const again = planFor(applyStatus(pending, plan), observe(pods, { children }), ctxAt(10));
      assert.equal(again.events.filter((e) => e.reason === Reason.ImagePullFailed).length, 0);
    });

    it('is Running when every pod runs, with an event, and polls progress', () => {
      const pods = group('r', 2, 1, (b) => b.running());
      const plan = planFor(pending, observe(pods, { children }), ctxAt(5));
      assert.equal(plan.statusPatch?.phase, Phase.Running);
      assert.equal(condition(plan.statusPatch, ConditionType.Running)?.status, 'True');
      assert.ok(plan.events.some((e) => e.reason === Reason.AllWorkersRunning));
      assert.equal(plan.requeueAfterMs, 10_000);
    });

    it('makes no write at all in steady state', () => {
      const pods = group('r', 2, 1, (b) => b.running());
      const running = applyStatus(pending, planFor(pending, observe(pods, { children }), ctxAt(5)));
      const plan = planFor(running, observe(pods, { children }), ctxAt(60));
      assert.equal(plan.statusPatch, null);
      assert.deepEqual(plan.actions, []);
      assert.deepEqual(plan.events, []);
    });

    it('re-applies a child whose content changed, but never rewrites the token Secret', () => {
      const pods = group('r', 2, 1, (b) => b.running());
      const running = applyStatus(pending, planFor(pending, observe(pods, { children }), ctxAt(5)));
      const edited = structuredClone(running);
      (edited.spec as any).recipe = { lr: 0.1 };
      const plan = planFor(edited, observe(pods, { children }), ctxAt(60, {}));
      const applied = plan.actions.flatMap((a) => (a.kind === 'apply' ? [a.object.kind] : []));
      assert.deepEqual(applied, ['ConfigMap']);
      assert.deepEqual(podActions(plan), [], 'a running group is not restarted for a spec change');
    });

    it('sets observedGeneration from the recipe', () => {
      const plan = planFor(aRecipe().withGeneration(7).obj(), observe([]), ctxAt(0));
      assert.equal(plan.statusPatch?.observedGeneration, 7);
    });

    it('does nothing for a recipe being deleted', () => {
      const plan = planFor(aRecipe().deleting().obj(), observe([]), ctxAt(0));
      assert.equal(plan.statusPatch, null);
      assert.deepEqual(plan.actions, []);
    });

    it('keeps lastTransitionTime when a condition keeps its status', () => {
      const pods = group('r', 2, 1, (b) => b.running());
      const running = applyStatus(pending, planFor(pending, observe(pods, { children }), ctxAt(5)));
      const withProgress = planFor(
        running,
        observe(pods, { children, progress: { epoch: 3 } }),
        ctxAt(99),
      );
      assert.equal(
        condition(withProgress.statusPatch, ConditionType.Running)?.lastTransitionTime,
        at(5).toISOString(),
      );
    });
  });

  describe('gang restart', () => {
    const base = () => aRecipe().withWorkers(3).inPhase(Phase.Running);

    it('restarts the whole group when one worker exits 75: Restarting, restarts+1, generation+1', () => {
      const pods = [
        aPod('r', 0).running().obj(),
        aPod('r', 1).exited(75, 0, 'peer r-worker-2 died').obj(),
        aPod('r', 2).running().obj(),
      ];
      const plan = planFor(base().obj(), observe(pods), ctxAt(100));
      assert.equal(plan.statusPatch?.phase, Phase.Restarting);
      assert.equal(plan.statusPatch?.restarts, 1);
      assert.equal(plan.statusPatch?.groupGeneration, 2);
      assert.deepEqual(
        deleted(plan)
          .map((d) => d.name)
          .sort(),
        ['r-worker-0', 'r-worker-1', 'r-worker-2'],
      );
      assert.ok(deleted(plan).every((d) => !d.force));
      const cond = condition(plan.statusPatch, ConditionType.Restarting)!;
      assert.equal(cond.status, 'True');
      assert.equal(cond.reason, Reason.WorkerFailed);
      assert.match(cond.message, /r-worker-1 exited with code 75: peer r-worker-2 died/);
      const warn = plan.events.find((e) => e.type === 'Warning');
      assert.match(warn!.message, /Restarting the worker group \(1\/3\)/);
      assert.deepEqual(created(plan), []);
    });

    it('retries an internal error (exit 1) the same way', () => {
      const pods = [
        aPod('r', 0).exited(1).obj(),
        aPod('r', 1).running().obj(),
        aPod('r', 2).running().obj(),
      ];
      const plan = planFor(base().obj(), observe(pods), ctxAt(100));
      assert.equal(plan.statusPatch?.phase, Phase.Restarting);
    });

    it('waits for the old pods to go, then the backoff, then recreates the group with the new generation', () => {
      const pods = group('r', 3, 1, (b) => b.running());
      pods[1] = aPod('r', 1).exited(75).obj();
      const restarting = applyStatus(
        base().obj(),
        planFor(base().obj(), observe(pods), ctxAt(100)),
      );

      const terminating = pods.map((p) => ({
        ...p,
        metadata: { ...p.metadata, deletionTimestamp: at(130) },
      }));
      let plan = planFor(restarting, observe(terminating), ctxAt(101));
      assert.deepEqual(created(plan), [], 'no new pod while old ones terminate');
      assert.equal(plan.statusPatch, null);

      plan = planFor(restarting, observe([]), ctxAt(105));
      assert.deepEqual(created(plan), [], 'backoff of 10 s not over');
      assert.ok(plan.requeueAfterMs! > 4000 && plan.requeueAfterMs! <= 5000);

      plan = planFor(restarting, observe([]), ctxAt(111));
      assert.equal(plan.statusPatch?.phase, Phase.Pending);
      const pods2 = created(plan);
      assert.equal(pods2.length, 3);
      assert.ok(pods2.every((p) => p.metadata!.labels!['ringmaster.dev/generation'] === '2'));
      assert.ok(pods2.every((p) => envOf(p).RINGMASTER_GENERATION === '2'));
      assert.equal(
        condition(plan.statusPatch, ConditionType.Restarting)?.reason,
        Reason.GroupRecreated,
      );
      assert.equal(plan.statusPatch?.restarts, 1);
    });

    it('fails with BackoffLimitExceeded once the restarts are used up, keeping the failed pod', () => {
      const recipe = base()
        .withBackoffLimit(2)
        .inPhase(Phase.Running, { restarts: 2, groupGeneration: 3 })
        .obj();
      const pods = group('r', 3, 3, (b) => b.running());
      pods[2] = aPod('r', 2, 3).exited(75).obj();
      const plan = planFor(recipe, observe(pods), ctxAt(100));
      assert.equal(plan.statusPatch?.phase, Phase.Failed);
      assert.equal(
        condition(plan.statusPatch, ConditionType.Failed)?.reason,
        Reason.BackoffLimitExceeded,
      );
      assert.equal(plan.statusPatch?.restarts, 2);
      assert.equal(plan.statusPatch?.completionTime, at(100).toISOString());
      assert.deepEqual(
        deleted(plan)
          .map((d) => d.name)
          .sort(),
        ['r-worker-0', 'r-worker-1'],
        'running pods release their GPUs, the failed pod keeps its logs',
      );
    });

    it('fails at once, without retry, when a worker exits 2 (invalid input)', () => {
      const pods = [
        aPod('r', 0).exited(2, 0, 'spec.data.train: no index.json').obj(),
        aPod('r', 1).running().obj(),
        aPod('r', 2).running().obj(),
      ];
      const plan = planFor(base().obj(), observe(pods), ctxAt(100));
      assert.equal(plan.statusPatch?.phase, Phase.Failed);
      const failed = condition(plan.statusPatch, ConditionType.Failed)!;
      assert.equal(failed.reason, Reason.WorkerInvalidInput);
      assert.match(failed.message, /no index\.json/);
      assert.equal(plan.statusPatch?.restarts, 0);
      assert.ok(
        plan.events.some((e) => e.type === 'Warning' && e.reason === Reason.WorkerInvalidInput),
      );
    });

    it('restarts on eviction and on a pod deleted by someone else', () => {
      const evicted = [
        aPod('r', 0).running().obj(),
        aPod('r', 1).evicted().obj(),
        aPod('r', 2).running().obj(),
      ];
      let plan = planFor(base().obj(), observe(evicted), ctxAt(100));
      assert.equal(
        condition(plan.statusPatch, ConditionType.Restarting)?.reason,
        Reason.WorkerPreempted,
      );

      const gone = [aPod('r', 0).running().obj(), aPod('r', 2).running().obj()];
      plan = planFor(base().obj(), observe(gone), ctxAt(100));
      assert.equal(
        condition(plan.statusPatch, ConditionType.Restarting)?.reason,
        Reason.PodDeleted,
      );
      assert.equal(plan.statusPatch?.groupGeneration, 2);

      const deleting = [
        aPod('r', 0).running().obj(),
        aPod('r', 1).running().terminating(120).obj(),
        aPod('r', 2).running().obj(),
      ];
      plan = planFor(base().obj(), observe(deleting), ctxAt(100));
      assert.equal(
        condition(plan.statusPatch, ConditionType.Restarting)?.reason,
        Reason.PodDeleted,
      );
    });

    it('treats a pod on a NotReady node as lost only after the grace, then force-deletes it', () => {
      const pods = [
        aPod('r', 0).running('node-a').obj(),
        aPod('r', 1).running('node-b').obj(),
        aPod('r', 2).running('node-a').obj(),
      ];
      const nodes = {
        'node-a': { ready: true },
        'node-b': { ready: false, since: at(90).toISOString() },
      };
      let plan = planFor(base().obj(), observe(pods, { nodes }), ctxAt(100));
      assert.equal(plan.statusPatch, null);
      assert.deepEqual(podActions(plan), []);
      assert.ok(plan.requeueAfterMs! <= 30_000, 'looks again when the grace runs out');

      plan = planFor(base().obj(), observe(pods, { nodes }), ctxAt(131));
      assert.equal(condition(plan.statusPatch, ConditionType.Restarting)?.reason, Reason.NodeLost);
      const byName = Object.fromEntries(deleted(plan).map((d) => [d.name, d.force]));
      assert.deepEqual(byName, { 'r-worker-0': false, 'r-worker-1': true, 'r-worker-2': false });
    });

    it('force-deletes a pod stuck Terminating on a lost node, and only there', () => {
      const recipe = aRecipe()
        .withWorkers(2)
        .inPhase(Phase.Restarting, { restarts: 1, groupGeneration: 2 })
        .obj();
      const stuck = [
        aPod('r', 0, 1).running('node-a').terminating(100).obj(),
        aPod('r', 1, 1).running('node-b').terminating(100).obj(),
      ];
      const nodes = {
        'node-a': { ready: true },
        'node-b': { ready: false, since: at(0).toISOString() },
      };
      let plan = planFor(recipe, observe(stuck, { nodes }), ctxAt(110));
      assert.deepEqual(deleted(plan), [], 'not before deletion deadline + 30 s');
      plan = planFor(recipe, observe(stuck, { nodes }), ctxAt(131));
      assert.deepEqual(
        deleted(plan).map((d) => [d.name, d.force]),
        [['r-worker-1', true]],
      );
      assert.ok(plan.events.some((e) => e.reason === Reason.ForceDeleted));
    });

    it('ignores the stale cache when pods are newer than the status it read', () => {
      const recipe = base().obj();
      const pods = group('r', 3, 2, (b) => b.running());
      const children = planFor(aRecipe().withWorkers(3).obj(), observe([]), ctxAt(0)).children;
      const plan = planFor(recipe, observe(pods, { children }), ctxAt(100));
      assert.deepEqual(plan.actions, []);
      assert.equal(plan.statusPatch, null);
      assert.equal(plan.requeueAfterMs, 1000);
    });
  });

  describe('success and cleanup', () => {
    it('an eval-only recipe succeeds with rank 0, status.eval and metrics from its progress', () => {
      const recipe = aRecipe()
        .withWorkers(2)
        .withSpec({
          mode: 'eval',
          eval: { weights: 's3://runs/a/checkpoints/epoch-000002' },
          data: { val: 's3://data/val' },
        })
        .inPhase(Phase.Running)
        .obj();
      const evalStatus = {
        weights: 's3://runs/a/checkpoints/epoch-000002',
        split: 'all',
        resize: 232,
        crop: 224,
        model: { acc1: 80.5, acc5: 95.25, count: 50000 },
        ema: { acc1: 81.2, acc5: 95.5, count: 50000 },
        workers: 2,
        seconds: 61.5,
      };
      const pods = [aPod('r', 0).exited(0, 100).obj(), aPod('r', 1).exited(0, 100).obj()];
      const plan = planFor(
        recipe,
        observe(pods, {
          progress: {
            metrics: { acc1: 80.5, acc5: 95.25, emaAcc1: 81.2, emaAcc5: 95.5 },
            eval: evalStatus,
          },
        }),
        ctxAt(101),
      );
      assert.equal(plan.statusPatch?.phase, Phase.Succeeded);
      assert.deepEqual(plan.statusPatch?.eval, evalStatus);
      assert.deepEqual(plan.statusPatch?.metrics, {
        acc1: 80.5,
        acc5: 95.25,
        emaAcc1: 81.2,
        emaAcc5: 95.5,
      });
      const c = condition(plan.statusPatch, ConditionType.Succeeded)!;
      assert.equal(c.reason, Reason.EvaluationCompleted);
      assert.equal(c.message, 'evaluation finished: model Acc@1 80.50, EMA Acc@1 81.20');
    });

    it('succeeds when rank 0 exits 0, gives the others a grace, then stops them', () => {
      const recipe = aRecipe().withWorkers(2).inPhase(Phase.Running).obj();
      const pods = [aPod('r', 0).exited(0, 100).obj(), aPod('r', 1).running().obj()];
      const plan = planFor(
        recipe,
        observe(pods, { progress: { epoch: 2, epochs: 2, weights: 's3://runs/r1/weights' } }),
        ctxAt(101),
      );
      assert.equal(plan.statusPatch?.phase, Phase.Succeeded);
      assert.equal(plan.statusPatch?.completionTime, at(101).toISOString());
      assert.equal(plan.statusPatch?.weights, 's3://runs/r1/weights');
      assert.equal(condition(plan.statusPatch, ConditionType.Succeeded)?.status, 'True');
      assert.deepEqual(deleted(plan), []);
      const done = applyStatus(recipe, plan);
      const later = planFor(done, observe(pods), ctxAt(161));
      assert.deepEqual(
        deleted(later).map((d) => d.name),
        ['r-worker-1'],
      );
      assert.equal(later.statusPatch, null);
    });

    it('keeps finished pods until ttlSecondsAfterFinished, then deletes them and the children, keeping the recipe', () => {
      const recipe = aRecipe()
        .withRunPolicy({ ttlSecondsAfterFinished: 600 })
        .inPhase(Phase.Succeeded, { completionTime: at(100).toISOString() })
        .obj();
      const pods = group('r', 2, 1, (b) => b.exited(0, 100));
      const children = planFor(aRecipe().obj(), observe([]), ctxAt(0)).children;
      let plan = planFor(recipe, observe(pods, { children }), ctxAt(300));
      assert.deepEqual(plan.actions, []);
      assert.equal(plan.requeueAfterMs, 400_000);
      plan = planFor(recipe, observe(pods, { children }), ctxAt(700));
      assert.deepEqual(kinds(plan), [
        'deletePod',
        'deletePod',
        'deleteChild',
        'deleteChild',
        'deleteChild',
        'deleteChild',
      ]);
      assert.ok(plan.events.some((e) => e.reason === Reason.CleanedUp));
      const after = planFor(recipe, observe([]), ctxAt(800));
      assert.deepEqual(after.actions, [], 'once cleaned, nothing more to do');
      assert.deepEqual(after.events, []);
      assert.equal(after.requeueAfterMs, undefined);
    });

    it('never recreates anything for a finished recipe', () => {
      const recipe = aRecipe()
        .inPhase(Phase.Failed, { completionTime: at(0).toISOString() })
        .obj();
      const plan = planFor(recipe, observe([]), ctxAt(10));
      assert.deepEqual(plan.actions, []);
    });
  });

  describe('run policy', () => {
    it('suspends: deletes the pods, keeps Secret/ConfigMap/status, resets the deadline clock', () => {
      const recipe = aRecipe()
        .withWorkers(2)
        .suspended()
        .inPhase(Phase.Running, { restarts: 1, groupGeneration: 2 })
        .obj();
      const pods = group('r', 2, 2, (b) => b.running());
      const children = planFor(aRecipe().withWorkers(2).obj(), observe([]), ctxAt(0)).children;
      const plan = planFor(recipe, observe(pods, { children }), ctxAt(50));
      assert.equal(plan.statusPatch?.phase, Phase.Suspended);
      assert.equal(plan.statusPatch?.startTime, undefined);
      assert.equal(plan.statusPatch?.restarts, 1);
      assert.equal(condition(plan.statusPatch, ConditionType.Suspended)?.status, 'True');
      assert.deepEqual(kinds(plan), ['deletePod', 'deletePod']);

      const suspended = applyStatus(recipe, plan);
      const again = planFor(suspended, observe([], { children }), ctxAt(60));
      assert.equal(again.statusPatch, null);
      assert.deepEqual(again.actions, []);
    });

    it('resumes: a new generation, created once the old pods are gone', () => {
      const recipe = aRecipe()
        .withWorkers(2)
        .inPhase(Phase.Suspended, { groupGeneration: 2, restarts: 1 })
        .obj();
      delete recipe.status!.startTime;
      const old = group('r', 2, 2, (b) => b.running().terminating(70));
      let plan = planFor(recipe, observe(old), ctxAt(60));
      assert.equal(plan.statusPatch?.phase, Phase.Pending);
      assert.equal(plan.statusPatch?.groupGeneration, 3);
      assert.equal(plan.statusPatch?.startTime, at(60).toISOString());
      assert.equal(condition(plan.statusPatch, ConditionType.Suspended)?.reason, Reason.Resumed);
      assert.deepEqual(created(plan), []);
      const resumed = applyStatus(recipe, plan);
      plan = planFor(resumed, observe([]), ctxAt(75));
      assert.deepEqual(
        created(plan).map((p) => p.metadata!.labels!['ringmaster.dev/generation']),
        ['3', '3'],
      );
    });

    it('a recipe created suspended makes no pods', () => {
      const plan = planFor(aRecipe().suspended().obj(), observe([]), ctxAt(0));
      assert.equal(plan.statusPatch?.phase, Phase.Suspended);
      assert.deepEqual(created(plan), []);
    });

    it('fails with DeadlineExceeded after activeDeadlineSeconds and stops the pods', () => {
      const recipe = aRecipe()
        .withRunPolicy({ activeDeadlineSeconds: 3600 })
        .inPhase(Phase.Running)
        .obj();
      const pods = group('r', 2, 1, (b) => b.running());
      let plan = planFor(recipe, observe(pods), ctxAt(3000));
      assert.equal(plan.statusPatch, null);
      assert.deepEqual(podActions(plan), []);
      assert.ok(plan.requeueAfterMs! <= 600_000);
      plan = planFor(recipe, observe(pods), ctxAt(3600));
      assert.equal(plan.statusPatch?.phase, Phase.Failed);
      assert.equal(
        condition(plan.statusPatch, ConditionType.Failed)?.reason,
        Reason.DeadlineExceeded,
      );
      assert.equal(deleted(plan).length, 2);
    });

    it('fails with MaxWaitExceeded when the group waits longer than maxWaitSeconds', () => {
      const recipe = aRecipe().withRunPolicy({ maxWaitSeconds: 300 }).inPhase(Phase.Pending).obj();
      const pods = [aPod('r', 0).running().obj(), aPod('r', 1).obj()];
      let plan = planFor(recipe, observe(pods), ctxAt(200));
      assert.notEqual(plan.statusPatch?.phase, Phase.Failed);
      plan = planFor(recipe, observe(pods), ctxAt(301));
      assert.equal(plan.statusPatch?.phase, Phase.Failed);
      assert.equal(
        condition(plan.statusPatch, ConditionType.Failed)?.reason,
        Reason.MaxWaitExceeded,
      );
      assert.deepEqual(
        deleted(plan).map((d) => [d.name, d.force]),
        [
          ['r-worker-0', false],
          ['r-worker-1', true],
        ],
      );
    });
  });

  describe('invalid specs and progress', () => {
    it('turns what the schema missed into a Failed condition naming the field, once', () => {
      const recipe = aRecipe().withSpec({ workers: 0 }).obj();
      const plan = planFor(recipe, observe([]), ctxAt(0));
      assert.equal(plan.statusPatch?.phase, Phase.Failed);
      const failed = condition(plan.statusPatch, ConditionType.Failed)!;
      assert.equal(failed.reason, Reason.InvalidRecipe);
      assert.match(failed.message, /spec\.workers/);
      assert.deepEqual(plan.actions, []);
      const again = planFor(applyStatus(recipe, plan), observe([]), ctxAt(10));
      assert.equal(again.statusPatch, null);
      assert.deepEqual(again.events, []);
    });

    it('rejects names that make invalid pod hostnames or Service names', () => {
      const long = 'a'.repeat(55);
      const plan = planFor(aRecipe(long).withWorkers(16).obj(), observe([]), ctxAt(0));
      const failed = condition(plan.statusPatch, ConditionType.Failed)!;
      assert.equal(failed.reason, Reason.InvalidRecipe);
      assert.match(
        failed.message,
        /metadata\.name: too long: pod hostname "a{55}-worker-15" has 65 characters \(max 63\); use at most 53/,
      );
      assert.deepEqual(plan.actions, []);
      const digit = planFor(aRecipe('7up').obj(), observe([]), ctxAt(0));
      assert.match(
        condition(digit.statusPatch, ConditionType.Failed)!.message,
        /must start with a letter/,
      );
      const ok = planFor(aRecipe('a'.repeat(53)).withWorkers(16).obj(), observe([]), ctxAt(0));
      assert.equal(ok.statusPatch?.phase, Phase.Pending);
    });

    it('starts a recipe whose invalid spec was fixed', () => {
      const bad = aRecipe().withSpec({ workers: 0 }).obj();
      const failed = applyStatus(bad, planFor(bad, observe([]), ctxAt(0)));
      (failed.spec as any).workers = 2;
      const plan = planFor(failed, observe([]), ctxAt(10));
      assert.equal(plan.statusPatch?.phase, Phase.Pending);
      assert.equal(created(plan).length, 2);
    });

    it('copies progress, metrics, checkpoint and weights into the status, and writes nothing when unchanged', () => {
      const recipe = aRecipe().inPhase(Phase.Running).obj();
      const pods = group('r', 2, 1, (b) => b.running());
      const children = planFor(aRecipe().obj(), observe([]), ctxAt(0)).children;
      const progress = {
        epoch: 3,
        epochs: 10,
        step: 300,
        totalSteps: 1000,
        imagesPerSec: 812.5,
        etaSeconds: 420,
        metrics: { acc1: 41.2, acc5: 70.1, emaAcc1: 40.8, emaAcc5: 69.9 },
        lastCheckpoint: { uri: 's3://runs/r1/checkpoints/epoch-000003', epoch: 3, step: 300 },
      };
      const plan = planFor(recipe, observe(pods, { children, progress }), ctxAt(10));
      assert.deepEqual(plan.statusPatch?.progress, {
        epoch: 3,
        epochs: 10,
        step: 300,
        totalSteps: 1000,
        imagesPerSec: 812.5,
        etaSeconds: 420,
      });
      assert.deepEqual(plan.statusPatch?.metrics, progress.metrics);
      assert.equal(plan.statusPatch?.lastCheckpoint?.epoch, 3);
      const again = planFor(
        applyStatus(recipe, plan),
        observe(pods, { children, progress }),
        ctxAt(20),
      );
      assert.equal(again.statusPatch, null);
    });
  });

  it('restart delay doubles per restart and is capped', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 10].map((r) => restartDelaySeconds(r, 10, 300)),
      [0, 10, 20, 40, 300],
    );
  });
});
