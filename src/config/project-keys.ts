/**
 * How Cohort answers every project.yml key FLARE defines (digest §1.1): accepted, ignored with a
 * warning, or refused as not supported yet. docs/provisioning.md renders the same table, and a test
 * keeps the two in step.
 */
export type KeyAnswer =
  | { readonly kind: "accepted"; readonly note: string }
  | { readonly kind: "ignored"; readonly note: string }
  | { readonly kind: "refused"; readonly note: string };

export type ParticipantType = "server" | "client" | "admin";

export const PROJECT_KEYS: Readonly<Record<string, KeyAnswer>> = {
  api_version: { kind: "accepted", note: "must be 3" },
  name: { kind: "accepted", note: "project name; CN of the root CA; truncated to 63 characters with a warning" },
  description: { kind: "accepted", note: "free text" },
  participants: { kind: "accepted", note: "list of participants (exactly one server)" },
  builders: { kind: "accepted", note: "FLARE builder paths mapped to Cohort's built-ins" },
  packager: { kind: "accepted", note: "optional; Cohort always writes <participant>.tgz" },
  include: { kind: "accepted", note: "file or list of files merged in, relative to the including file, never outside the project folder" },
  connection_security: { kind: "accepted", note: "project-wide default (clear | tls | mtls), default mtls" },
  custom_ca_cert: { kind: "accepted", note: "project-wide default for clients and admins" },
  allow_log_streaming: { kind: "accepted", note: "project-wide default for clients" },
  studies: { kind: "refused", note: "studies (api_version 4) are not supported yet" },
  edge: { kind: "refused", note: "edge (hierarchical) provisioning is not supported yet" },
};

export interface ParticipantKey {
  readonly answer: KeyAnswer;
  /** Participant types the key applies to; on other types it is ignored with a warning. */
  readonly types: readonly ParticipantType[];
}

const ALL: readonly ParticipantType[] = ["server", "client", "admin"];

export const PARTICIPANT_KEYS: Readonly<Record<string, ParticipantKey>> = {
  name: { answer: { kind: "accepted", note: "server: host name; client: site name; admin: email" }, types: ALL },
  type: { answer: { kind: "accepted", note: "server (exactly one), client, admin; overseer ignored; relay refused" }, types: ALL },
  org: { answer: { kind: "accepted", note: "organisation; the certificate's O" }, types: ALL },
  role: { answer: { kind: "accepted", note: "project_admin, org_admin, lead, member; custom roles with a warning" }, types: ["admin"] },
  fed_learn_port: { answer: { kind: "accepted", note: "default 8002" }, types: ["server"] },
  admin_port: { answer: { kind: "accepted", note: "default = fed_learn_port (one port for both)" }, types: ["server"] },
  host_names: { answer: { kind: "accepted", note: "extra server names/IPs, added to the server certificate's SANs" }, types: ["server"] },
  default_host: { answer: { kind: "accepted", note: "address clients use by default; default = server name" }, types: ["server"] },
  connect_to: { answer: { kind: "accepted", note: "host string or {host, port, connection_security}" }, types: ["client", "admin"] },
  connection_security: { answer: { kind: "accepted", note: "clear | tls | mtls (case-insensitive), overrides the project value" }, types: ALL },
  custom_ca_cert: { answer: { kind: "accepted", note: "PEM copied to startup/customRootCA.pem" }, types: ["client", "admin"] },
  capacity: { answer: { kind: "accepted", note: "{num_of_gpus, mem_per_gpu_in_GiB} → local/resources.json.default" }, types: ["client"] },
  allow_log_streaming: { answer: { kind: "accepted", note: "boolean → local/resources.json.default" }, types: ["client"] },
  cc_config: { answer: { kind: "accepted", note: "path to a CC YAML; must exist (used by a later release)" }, types: ["server", "client"] },
  use_aio: { answer: { kind: "ignored", note: "Cohort's drivers are always asynchronous" }, types: ALL },
  listening_host: { answer: { kind: "refused", note: "client/relay listeners are not supported yet" }, types: ALL },
  auth_identity: { answer: { kind: "refused", note: "identity overrides are not supported yet" }, types: ALL },
  parent: { answer: { kind: "refused", note: "client hierarchies are not supported yet" }, types: ALL },
};

/** Participant types FLARE knows that Cohort does not run. */
export const OTHER_PARTICIPANT_TYPES: Readonly<Record<string, KeyAnswer>> = {
  overseer: { kind: "ignored", note: "the overseer was removed from FLARE 2.7; the participant is skipped" },
  relay: { kind: "refused", note: "relays are not supported yet" },
};
