/**
 * The imperative half of a TrainingStudy's reconcile: gather the recipes it owns from the
 * cache, ask the pure planner (study.ts), then carry the plan out — status first (with the
 * resourceVersion it was computed from as a precondition), then the child recipes
 * (server-side apply), then events.
 */
import { randomBytes } from 'node:crypto';
import { API_VERSION, EVENT_REPORTER, KIND, STUDY_KIND, studiesPath } from '../../api/names.js';
import type { Logger } from '../../common/log.js';
import { ContentType, collectionPath, type KubeRest } from '../kube/rest.js';
import type { Cache } from '../kube/reflector.js';
import { FIELD_MANAGER, mergePatch } from './reconciler.js';
import { planStudy, studyChildrenOf } from './study.js';
import type { TrainingRecipeObject, TrainingStudyObject } from './types.js';

export interface StudyReconcilerDeps {
  rest: KubeRest;
  studies: Cache<TrainingStudyObject>;
  recipes: Cache<TrainingRecipeObject>;
  log: Logger;
  instance: string;
  now?: () => Date;
}

export class StudyReconciler {
  private readonly now: () => Date;

  constructor(private readonly d: StudyReconcilerDeps) {
    this.now = d.now ?? (() => new Date());
  }

  async reconcile(key: string): Promise<void> {
    const study = this.d.studies.get(key);
    if (!study) return;
    const { namespace, name, resourceVersion } = study.metadata;
    const children = studyChildrenOf(this.d.recipes.list(), study.metadata);
    const plan = planStudy(study, children, this.now());
    if (plan.statusPatch) {
      await this.d.rest.request('PATCH', `${studiesPath(namespace, name)}/status`, {
        body: {
          metadata: { resourceVersion },
          status: mergePatch(study.status ?? {}, plan.statusPatch),
        },
        contentType: ContentType.merge,
      });
    }
    await Promise.all(
      plan.applies.map((obj) =>
        this.d.rest.request(
          'PATCH',
          `${collectionPath(API_VERSION, KIND, namespace)}/${obj.metadata.name}`,
          {
            body: obj,
            contentType: ContentType.apply,
            query: { fieldManager: FIELD_MANAGER, force: true },
          },
        ),
      ),
    );
    for (const e of plan.events) {
      await this.event(study, e.type, e.reason, e.message).catch((err: unknown) =>
        this.d.log.warn({ study: key, err: String(err) }, 'event not recorded'),
      );
    }
  }

  private async event(
    study: TrainingStudyObject,
    type: string,
    reason: string,
    message: string,
  ): Promise<void> {
    const { namespace, name, uid, resourceVersion } = study.metadata;
    const now = new Date().toISOString();
    await this.d.rest.request('POST', `/api/v1/namespaces/${namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
        involvedObject: {
          apiVersion: API_VERSION,
          kind: STUDY_KIND,
          name,
          namespace,
          uid,
          resourceVersion,
        },
        type,
        reason,
        message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
        source: { component: 'ringmaster-operator' },
        reportingComponent: EVENT_REPORTER,
        reportingInstance: this.d.instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}
