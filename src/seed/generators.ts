import { SeededGenerator } from './prng.js';

/**
 * Deterministic generators for datasets with no real public counterpart. A generator yields rows
 * keyed by column name, in chunks, so millions of rows never sit in memory at once.
 */
export type Row = Record<string, string | number | null>;
export type Generator = (rows: number, seed: number) => Generator_;
type Generator_ = globalThis.Generator<Row[], void, unknown>;

const CHUNK = 5000;
const DEPARTMENTS = ['cardiology', 'dermatology', 'emergency', 'general', 'neurology', 'oncology', 'orthopedics', 'pediatrics'];
const DEPT_WEIGHTS = [10, 6, 20, 30, 6, 8, 12, 8];
const DIAGNOSES = ['circulatory', 'digestive', 'infectious', 'injury', 'mental', 'musculoskeletal', 'neoplasms', 'respiratory', 'other'];
const DIAGNOSIS_BY_DEPT: Record<string, number[]> = {
  cardiology: [70, 5, 2, 3, 2, 3, 3, 5, 7],
  dermatology: [2, 2, 30, 10, 2, 5, 20, 2, 27],
  emergency: [15, 10, 10, 40, 5, 5, 2, 10, 3],
  general: [12, 15, 15, 8, 10, 12, 3, 18, 7],
  neurology: [15, 3, 3, 10, 35, 10, 8, 3, 13],
  oncology: [3, 5, 2, 1, 3, 2, 80, 2, 2],
  orthopedics: [2, 1, 2, 40, 1, 50, 1, 1, 2],
  pediatrics: [3, 15, 30, 15, 5, 5, 1, 22, 4],
};

/**
 * Hospital visits: patients with a heavy-tailed number of visits (1 to 40), so contribution
 * bounding matters. Cost depends on department and length of stay.
 */
export function* visits(rows: number, seed: number): Generator_ {
  const g = new SeededGenerator(seed);
  let emitted = 0;
  let patient = 0;
  let chunk: Row[] = [];
  while (emitted < rows) {
    patient++;
    const age = Math.min(100, Math.max(0, Math.round(g.normal(45, 22))));
    const sex = g.next() < 0.52 ? 'Female' : 'Male';
    const n = Math.min(40, 1 + Math.floor(-Math.log(1 - g.next()) * (age > 65 ? 9 : 4)));
    const home = g.int(1, 40);
    for (let v = 0; v < n && emitted < rows; v++, emitted++) {
      const department = age < 16 ? 'pediatrics' : g.pick(DEPARTMENTS, DEPT_WEIGHTS);
      const diagnosisGroup = g.pick(DIAGNOSES, DIAGNOSIS_BY_DEPT[department]);
      const inpatient = g.next() < (department === 'emergency' || department === 'oncology' ? 0.35 : 0.1);
      const lengthOfStay = inpatient ? Math.min(30, 1 + Math.floor(-Math.log(1 - g.next()) * 4)) : 0;
      const base = department === 'oncology' ? 1800 : department === 'cardiology' ? 900 : 250;
      const cost = Math.min(20000, Math.max(20, g.normal(base, base / 3) + lengthOfStay * 1100));
      const clinic = g.next() < 0.8 ? home : g.int(1, 40);
      chunk.push({
        patient_id: `P${String(patient).padStart(7, '0')}`,
        clinic_id: `C${String(clinic).padStart(3, '0')}`,
        department,
        diagnosis_group: diagnosisGroup,
        patient_age: age,
        sex,
        length_of_stay: lengthOfStay,
        cost: Math.round(cost * 100) / 100,
        visit_day: g.int(1, 365),
      });
      if (chunk.length === CHUNK) {
        yield chunk;
        chunk = [];
      }
    }
  }
  if (chunk.length) yield chunk;
}

const PLACES = ['Oak', 'River', 'Hill', 'Lake', 'Park', 'Bay', 'Cedar', 'Maple', 'Pine', 'Stone'];
const KINDS = ['Clinic', 'Medical Center', 'Health Centre', 'Hospital'];
const REGIONS = ['north', 'south', 'east', 'west', 'central'];

/** The clinics directory referenced by visits (C001..C040). */
export function* clinics(rows: number, seed: number): Generator_ {
  const g = new SeededGenerator(seed);
  const out: Row[] = [];
  for (let i = 1; i <= rows; i++) {
    const kind = g.pick(KINDS);
    out.push({
      id: `C${String(i).padStart(3, '0')}`,
      name: `${g.pick(PLACES)} ${g.pick(PLACES)} ${kind}`,
      region: g.pick(REGIONS),
      beds: kind === 'Hospital' ? g.int(150, 1200) : g.int(0, 60),
      opened_year: g.int(1920, 2024),
    });
  }
  yield out;
}

const DRUG_CLASSES = ['analgesic', 'antibiotic', 'anticoagulant', 'antidepressant', 'antidiabetic', 'antihypertensive', 'statin', 'other'];
const DRUG_WEIGHTS = [20, 18, 6, 8, 9, 15, 12, 12];
const DRUG_COST: Record<string, number> = { analgesic: 15, antibiotic: 30, anticoagulant: 120, antidepressant: 45, antidiabetic: 90, antihypertensive: 25, statin: 20, other: 60 };

/**
 * Prescriptions of the same patients as `visits` (ids P0000001, P0000002, ... in the same order),
 * 0 to 12 per patient: a second sensitive dataset sharing the privacy unit, for joins on it.
 */
export function* prescriptions(rows: number, seed: number): Generator_ {
  const g = new SeededGenerator(seed);
  let emitted = 0;
  let patient = 0;
  let chunk: Row[] = [];
  while (emitted < rows) {
    patient++;
    const n = Math.min(12, Math.floor(-Math.log(1 - g.next()) * 2.2));
    for (let k = 0; k < n && emitted < rows; k++, emitted++) {
      const drugClass = g.pick(DRUG_CLASSES, DRUG_WEIGHTS);
      const quantity = g.pick([7, 14, 28, 30, 60, 90], [20, 15, 25, 20, 10, 10]);
      const refills = g.int(0, 5);
      const cost = Math.min(2000, Math.max(1, g.normal(DRUG_COST[drugClass]!, DRUG_COST[drugClass]! / 4) * (quantity / 30)));
      chunk.push({
        patient_id: `P${String(patient).padStart(7, '0')}`,
        drug_class: drugClass,
        quantity,
        refills,
        cost: Math.round(cost * 100) / 100,
        prescribed_day: g.int(1, 365),
      });
      if (chunk.length === CHUNK) {
        yield chunk;
        chunk = [];
      }
    }
  }
  if (chunk.length) yield chunk;
}

export const generators: Record<string, Generator> = { visits, clinics, prescriptions };
