import type { DomainDeclarationInput } from '../declaration.js';

/**
 * Hospital visits: MANY rows per patient. No public real dataset has this shape, so the rows are
 * generated deterministically from a seed (src/seed/generators.ts).
 */
export const health: DomainDeclarationInput = {
  name: 'health',
  title: 'Hospital visits',
  description:
    'Outpatient and inpatient visits, many per patient (generated deterministically from a seed). Sensitive: the privacy unit is the patient, answers are differentially private only.',
  owner: { team: 'Clinical data office', contact: 'health-data@example.org' },
  sensitivity: 'sensitive',
  policy: {
    defaultBudget: { epsilon: 10, delta: 1e-6 },
    globalCap: { epsilon: 50, delta: 1e-5 },
    maxEpsilonPerQuery: 2,
    defaultEpsilon: 0.5,
    defaultDelta: 1e-9,
    rateLimitPerMinute: 600,
  },
  datasets: [
    {
      name: 'visits',
      title: 'Visits',
      table: 'visits',
      description: 'One row per hospital visit; a patient has between 1 and 40 visits.',
      privacyUnit: 'patientId',
      contribution: { maxRowsPerUnit: 10, maxGroupsPerUnit: 3 },
      source: { kind: 'generated', generator: 'visits', rows: 200_000, seed: 20261125 },
      columns: [
        { name: 'patientId', type: 'id', description: 'Pseudonymous patient identifier (the privacy unit; never released).' },
        { name: 'clinicId', type: 'categorical', description: 'Clinic of the visit (see the reference domain).', categories: Array.from({ length: 40 }, (_, i) => `C${String(i + 1).padStart(3, '0')}`) },
        { name: 'department', type: 'categorical', description: 'Hospital department.', categories: ['cardiology', 'dermatology', 'emergency', 'general', 'neurology', 'oncology', 'orthopedics', 'pediatrics'] },
        { name: 'diagnosisGroup', type: 'categorical', description: 'Coarse diagnosis group (ICD-10 chapter).', categories: ['circulatory', 'digestive', 'infectious', 'injury', 'mental', 'musculoskeletal', 'neoplasms', 'respiratory', 'other'] },
        { name: 'patientAge', type: 'integer', unit: 'years', bounds: [0, 100], description: 'Age of the patient at the visit.' },
        { name: 'sex', type: 'categorical', description: 'Sex of the patient.', categories: ['Female', 'Male'] },
        { name: 'lengthOfStay', type: 'integer', unit: 'days', bounds: [0, 30], description: 'Nights spent in hospital (0 for outpatient visits).' },
        { name: 'cost', type: 'float', unit: 'USD', bounds: [0, 20000], granularity: 0.01, description: 'Billed cost of the visit.' },
        { name: 'visitDay', type: 'integer', unit: 'day of 2025', bounds: [1, 365], description: 'Day of the year 2025 on which the visit happened.' },
      ],
    },
    {
      name: 'prescriptions',
      title: 'Prescriptions',
      table: 'prescriptions',
      description: 'One row per prescription of the patients of visits (same patientId); 0 to 12 per patient.',
      privacyUnit: 'patientId',
      contribution: { maxRowsPerUnit: 8, maxGroupsPerUnit: 3 },
      source: { kind: 'generated', generator: 'prescriptions', rows: 60_000, seed: 20261130 },
      columns: [
        { name: 'patientId', type: 'id', description: 'Pseudonymous patient identifier (the privacy unit, shared with visits; never released).' },
        { name: 'drugClass', type: 'categorical', description: 'Therapeutic class of the drug.', categories: ['analgesic', 'antibiotic', 'anticoagulant', 'antidepressant', 'antidiabetic', 'antihypertensive', 'statin', 'other'] },
        { name: 'quantity', type: 'integer', unit: 'days of supply', bounds: [1, 90], description: 'Days of supply dispensed.' },
        { name: 'refills', type: 'integer', unit: 'refills', bounds: [0, 5], description: 'Refills allowed.' },
        { name: 'cost', type: 'float', unit: 'USD', bounds: [0, 2000], granularity: 0.01, description: 'Cost of the prescription.' },
        { name: 'prescribedDay', type: 'integer', unit: 'day of 2025', bounds: [1, 365], description: 'Day of the year 2025 of the prescription.' },
      ],
    },
    {
      name: 'clinics',
      title: 'Clinics (public)',
      table: 'clinics',
      description: 'The public clinics directory (the same generated reference data as the reference domain), replicated here so DP SQL can join visits to it on clinicId = id.',
      privacyUnit: 'row',
      access: 'public',
      key: 'id',
      contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 },
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
