import type { DomainDeclarationInput } from '../declaration.js';

/** Open reference data: the clinics that health visits refer to. Rows are public. */
export const reference: DomainDeclarationInput = {
  name: 'reference',
  title: 'Reference data',
  description: 'Public reference data shared by all domains: the directory of clinics. Open: rows may be listed.',
  owner: { team: 'Data platform', contact: 'platform@example.org' },
  sensitivity: 'open',
  policy: {
    defaultBudget: { epsilon: 1, delta: 1e-6 },
    globalCap: { epsilon: 1, delta: 1e-6 },
    maxEpsilonPerQuery: 1,
    defaultEpsilon: 1,
    defaultDelta: 0,
  },
  datasets: [
    {
      name: 'clinics',
      title: 'Clinics',
      table: 'clinics',
      description: 'Directory of the 40 clinics of the hospital network (generated, public).',
      privacyUnit: 'row',
      contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 },
      key: 'id',
      source: { kind: 'generated', generator: 'clinics', rows: 40, seed: 7 },
      columns: [
        { name: 'id', type: 'id', description: 'Clinic identifier, e.g. C001.' },
        { name: 'name', type: 'text', description: 'Name of the clinic.' },
        { name: 'region', type: 'categorical', description: 'Region of the clinic.', categories: ['north', 'south', 'east', 'west', 'central'] },
        { name: 'beds', type: 'integer', unit: 'beds', bounds: [0, 2000], description: 'Number of in-patient beds.' },
        { name: 'openedYear', type: 'integer', unit: 'year', bounds: [1900, 2026], description: 'Year the clinic opened.' },
      ],
    },
  ],
};
