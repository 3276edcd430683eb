import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessPointToken, taskFamily } from '../../shared/adapters/common/names.js';
import { DirectoryStorage } from '../../shared/adapters/local/directory-storage.js';
import { efsStorageOver, manualAwsModel } from '../support/aws-adapters.js';
import { FakeStorageWorld } from '../support/fake-storage.js';
import { describeStorageContract } from './storage.contract.js';

describeStorageContract(
  'EfsStorage over the AWS model',
  async () => {
    const { model } = manualAwsModel();
    return {
      storage: efsStorageOver(model, 'contract'),
      otherInstallation: efsStorageOver(model, 'neighbour'),
      // Made by hand, as someone else could: the names this installation would use, others' tags.
      plantForeign: async (tenantId) =>
        model.plantForeign({
          tenantId,
          installation: 'neighbour',
          family: taskFamily('contract', tenantId),
          token: accessPointToken('contract', tenantId),
        }),
      close: async () => model.restore(),
    };
  },
  ['resourcesByHand'],
);

describeStorageContract('DirectoryStorage (embedded mode)', async () => {
  // Each installation has a data dir of its own.
  const root = await mkdtemp(join(tmpdir(), 'dormouse-storage-contract-'));
  return {
    storage: new DirectoryStorage(join(root, 'contract')),
    otherInstallation: new DirectoryStorage(join(root, 'neighbour')),
    close: async () => rm(root, { recursive: true, force: true }),
  };
});

describeStorageContract('FakeStorage (use-case tests)', async () => {
  const world = new FakeStorageWorld();
  return { storage: world.storage('contract'), otherInstallation: world.storage('neighbour'), close: async () => {} };
});
