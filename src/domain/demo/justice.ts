import type { DomainDeclarationInput } from '../declaration.js';

/** ProPublica COMPAS: one row per defendant, highly sensitive. */
export const justice: DomainDeclarationInput = {
  name: 'justice',
  title: 'Criminal justice',
  description:
    'Defendants scored by COMPAS in Broward County, Florida, 2013-2014 (ProPublica). Highly sensitive: answers are differentially private only.',
  owner: { team: 'Justice analytics', contact: 'justice-data@example.org' },
  sensitivity: 'sensitive',
  policy: {
    defaultBudget: { epsilon: 5, delta: 1e-6 },
    globalCap: { epsilon: 20, delta: 1e-5 },
    maxEpsilonPerQuery: 1,
    defaultEpsilon: 0.5,
    defaultDelta: 1e-9,
    rateLimitPerMinute: 600,
  },
  datasets: [
    {
      name: 'defendants',
      title: 'Defendants',
      table: 'defendants',
      description: 'One row per defendant with criminal history and two-year recidivism.',
      privacyUnit: 'row',
      contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 },
      source: { kind: 'csv', file: 'data/compas/compas.csv.gz' },
      columns: [
        { name: 'sex', source: 'sex', type: 'categorical', description: 'Sex of the defendant.', categories: ['Female', 'Male'] },
        { name: 'age', source: 'age', type: 'integer', unit: 'years', bounds: [18, 100], description: 'Age of the defendant.' },
        { name: 'ageCategory', source: 'age_cat', type: 'categorical', description: 'Age band.', categories: ['Less than 25', '25 - 45', 'Greater than 45'] },
        { name: 'race', source: 'race', type: 'categorical', description: 'Race as recorded.', categories: ['African-American', 'Asian', 'Caucasian', 'Hispanic', 'Native American', 'Other'] },
        { name: 'juvenileFelonies', source: 'juv_fel_count', type: 'integer', unit: 'count', bounds: [0, 20], description: 'Number of juvenile felonies.' },
        { name: 'juvenileMisdemeanors', source: 'juv_misd_count', type: 'integer', unit: 'count', bounds: [0, 20], description: 'Number of juvenile misdemeanors.' },
        { name: 'juvenileOther', source: 'juv_other_count', type: 'integer', unit: 'count', bounds: [0, 20], description: 'Number of other juvenile offences.' },
        { name: 'priorsCount', source: 'priors_count', type: 'integer', unit: 'count', bounds: [0, 40], description: 'Number of prior offences.' },
        { name: 'chargeDegree', source: 'c_charge_degree', type: 'categorical', description: 'Degree of the current charge: F felony, M misdemeanor.', categories: ['F', 'M'] },
        { name: 'chargeDescription', source: 'c_charge_desc', type: 'categorical', description: 'Free-text description of the charge. No public list: histogram keys go through DP key selection.' },
        { name: 'twoYearRecidivism', source: 'two_year_recid', type: 'integer', unit: '0/1', bounds: [0, 1], description: '1 if the defendant reoffended within two years.' },
      ],
    },
  ],
};
