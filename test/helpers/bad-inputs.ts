/**
 * Issue 2 §4 bad-input cases, shared by the library tests (test/config) and the CLI tests
 * (test/cli): each is a set of files, and what the refusal must say.
 */
import { DEFAULT_BUILDERS_YAML, minimalProject } from "./index.js";

export interface BadInputCase {
  readonly name: string;
  /** Files to write, relative to the case folder; the project file is `project` (default `proj/project.yml`). */
  readonly files: Readonly<Record<string, string>>;
  readonly project?: string;
  readonly code: "ERR_CONFIG_INVALID" | "ERR_CONFIG_YAML_SYNTAX" | "ERR_CONFIG_INCLUDE_ESCAPES";
  /** Field path as printed, e.g. `participants[1].connection_security`. */
  readonly field?: string;
  /** The bad value as printed (JSON), e.g. `"ssl"`. */
  readonly value?: string;
  /** What is allowed / how to fix it: every pattern must match the message. */
  readonly allowed: readonly RegExp[];
  /** YAML syntax errors: the line number that must be printed. */
  readonly line?: number;
}

const P = "proj/project.yml";
const SERVER = `  - name: server1\n    type: server\n    org: nvidia`;
const CLIENT = `  - name: site-1\n    type: client\n    org: nvidia`;
const ADMIN = `  - name: admin@nvidia.com\n    type: admin\n    org: nvidia\n    role: project_admin`;

export const BAD_INPUTS: readonly BadInputCase[] = [
  {
    name: "YAML syntax error",
    files: { [P]: "api_version: 3\nname: broken\nparticipants:\n  - name: server1\n    type: server\n   org: nvidia\n" },
    code: "ERR_CONFIG_YAML_SYNTAX",
    line: 6,
    allowed: [/YAML syntax error/, /fix the YAML at that line/],
  },
  {
    name: "api_version 2",
    files: { [P]: minimalProject().replace("api_version: 3", "api_version: 2") },
    code: "ERR_CONFIG_INVALID",
    field: "api_version",
    value: "2",
    allowed: [/must be 3/, /set api_version: 3/],
  },
  {
    name: "api_version 4",
    files: { [P]: minimalProject().replace("api_version: 3", "api_version: 4") },
    code: "ERR_CONFIG_INVALID",
    field: "api_version",
    value: "4",
    allowed: [/not supported yet/, /set api_version: 3/],
  },
  {
    name: "zero servers",
    files: { [P]: minimalProject({ server: "" }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants",
    allowed: [/needs exactly one participant of type server, found none/],
  },
  {
    name: "two servers",
    files: { [P]: minimalProject({ server: `${SERVER}\n  - name: server2\n    type: server\n    org: nvidia` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants",
    allowed: [/needs exactly one participant of type server, found 2 \(server1, server2\)/, /keep one server entry/],
  },
  {
    name: "duplicate names",
    files: { [P]: minimalProject({ clients: `${CLIENT}\n${CLIENT}` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[2].name",
    value: '"site-1"',
    allowed: [/duplicate name: participants\[1\] has the same name/, /names must be unique/],
  },
  {
    name: "unknown connection_security",
    files: { [P]: minimalProject({ clients: `${CLIENT}\n    connection_security: ssl` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[1].connection_security",
    value: '"ssl"',
    allowed: [/must be one of clear, tls, mtls/],
  },
  {
    name: "port 0",
    files: { [P]: minimalProject({ port: 0 }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[0].fed_learn_port",
    value: "0",
    allowed: [/must be between 1 and 65535/],
  },
  {
    name: "port 70000",
    files: { [P]: minimalProject({ server: `${SERVER}\n    fed_learn_port: 8002\n    admin_port: 70000` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[0].admin_port",
    value: "70000",
    allowed: [/must be between 1 and 65535/],
  },
  {
    name: "connect_to port out of range",
    files: { [P]: minimalProject({ clients: `${CLIENT}\n    connect_to: {host: server1, port: 65536}` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[1].connect_to.port",
    value: "65536",
    allowed: [/must be between 1 and 65535/],
  },
  {
    name: "invalid client name",
    files: { [P]: minimalProject({ clients: `  - name: site one\n    type: client\n    org: nvidia` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[1].name",
    value: '"site one"',
    allowed: [/must be a site name: letters, digits, '-' and '_' only/],
  },
  {
    name: "invalid admin email",
    files: { [P]: minimalProject({ admins: `  - name: admin-at-nvidia\n    type: admin\n    org: nvidia\n    role: lead` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[2].name",
    value: '"admin-at-nvidia"',
    allowed: [/must be an email address/],
  },
  {
    name: "invalid server host name",
    files: { [P]: minimalProject({ server: `  - name: bad host!\n    type: server\n    org: nvidia` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[0].name",
    value: '"bad host!"',
    allowed: [/must be a host name/],
  },
  {
    name: "invalid host in host_names",
    files: { [P]: minimalProject({ server: `${SERVER}\n    host_names: [127.0.0.1, "not a host"]` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[0].host_names[1]",
    value: '"not a host"',
    allowed: [/must be a host name .* or an IP address/],
  },
  {
    name: "missing custom_ca_cert file",
    files: { [P]: minimalProject({ clients: `${CLIENT}\n    custom_ca_cert: certs/missing-ca.pem` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[1].custom_ca_cert",
    value: '"certs/missing-ca.pem"',
    allowed: [/file not found: .*certs\/missing-ca\.pem/, /give the path of a PEM CA certificate/],
  },
  {
    name: "missing cc_config file",
    files: { [P]: minimalProject({ server: `${SERVER}\n    cc_config: cc/server_cc.yml` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[0].cc_config",
    value: '"cc/server_cc.yml"',
    allowed: [/file not found: .*cc\/server_cc\.yml/, /confidential-computing config YAML/],
  },
  {
    name: "admin without role",
    files: { [P]: minimalProject({ admins: `  - name: admin@nvidia.com\n    type: admin\n    org: nvidia` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[2].role",
    allowed: [/an admin needs a role/, /set role to one of project_admin, org_admin, lead, member/],
  },
  {
    name: "include escaping the folder",
    files: {
      "outside.yml": "description: from outside\n",
      [P]: `include: ../outside.yml\n${minimalProject()}`,
    },
    code: "ERR_CONFIG_INCLUDE_ESCAPES",
    field: "include",
    value: '"../outside.yml"',
    allowed: [/resolves outside the project folder/, /move the file into that folder/],
  },
  {
    name: "listening_host (not supported yet)",
    files: { [P]: minimalProject({ clients: `${CLIENT}\n    listening_host: site-1.example.org` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[1].listening_host",
    value: '"site-1.example.org"',
    allowed: [/not supported yet/, /remove 'listening_host'/],
  },
  {
    name: "type relay (not supported yet)",
    files: { [P]: minimalProject({ admins: `${ADMIN}\n  - name: relay-1\n    type: relay\n    org: nvidia` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[3].type",
    value: '"relay"',
    allowed: [/not supported yet: relays/],
  },
  {
    name: "studies (not supported yet)",
    files: { [P]: minimalProject({ extraTop: "studies:\n  study1:\n    site_orgs: {nvidia: [site-1]}" }) },
    code: "ERR_CONFIG_INVALID",
    field: "studies",
    allowed: [/not supported yet/, /remove 'studies'/],
  },
  {
    name: "connect_to.name naming a relay (not supported yet)",
    files: { [P]: minimalProject({ clients: `${CLIENT}\n    connect_to: {name: relay-1}` }) },
    code: "ERR_CONFIG_INVALID",
    field: "participants[1].connect_to.name",
    value: '"relay-1"',
    allowed: [/not supported yet: connecting through a relay/],
  },
  {
    name: "CCBuilder (not supported yet)",
    files: {
      [P]: minimalProject({
        builders: DEFAULT_BUILDERS_YAML.replace(
          "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
          "  - path: nvflare.lighter.cc_provision.impl.cc.CCBuilder\n  - path: nvflare.lighter.impl.signature.SignatureBuilder",
        ),
      }),
    },
    code: "ERR_CONFIG_INVALID",
    field: "builders[3].path",
    value: '"nvflare.lighter.cc_provision.impl.cc.CCBuilder"',
    allowed: [/not supported yet: confidential computing/, /remove this builder/],
  },
  {
    name: "confidential-computing packager (not supported yet)",
    files: { [P]: minimalProject({ extraTop: "packager:\n  path: nvflare.lighter.cc_provision.impl.cc_packager.CCPackager" }) },
    code: "ERR_CONFIG_INVALID",
    field: "packager.path",
    value: '"nvflare.lighter.cc_provision.impl.cc_packager.CCPackager"',
    allowed: [/not supported yet: confidential-computing packaging/, /remove the packager entry/],
  },
  {
    name: "unknown builder path",
    files: {
      [P]: minimalProject({
        builders: DEFAULT_BUILDERS_YAML.replace("nvflare.lighter.impl.static_file.StaticFileBuilder", "nvflare.lighter.impl.nosuch.NoSuchBuilder"),
      }),
    },
    code: "ERR_CONFIG_INVALID",
    field: "builders[1].path",
    value: '"nvflare.lighter.impl.nosuch.NoSuchBuilder"',
    allowed: [/unknown builder/, /use one of nvflare\.lighter\.impl\.workspace\.WorkspaceBuilder/],
  },
  {
    name: "HEBuilder with a ring degree Cohort does not pack",
    files: {
      [P]: minimalProject({
        builders: DEFAULT_BUILDERS_YAML.replace(
          "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
          "  - path: nvflare.lighter.impl.he.HEBuilder\n    args: {poly_modulus_degree: 4096}\n  - path: nvflare.lighter.impl.signature.SignatureBuilder",
        ),
      }),
    },
    code: "ERR_CONFIG_INVALID",
    field: "builders[3].args.poly_modulus_degree",
    value: "4096",
    allowed: [/must be 8192/, /coeff_mod_bit_sizes \[60, 40, 40\]/],
  },
  {
    name: "HEBuilder with a scheme other than CKKS",
    files: {
      [P]: minimalProject({
        builders: DEFAULT_BUILDERS_YAML.replace(
          "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
          "  - path: nvflare.lighter.impl.he.HEBuilder\n    args: {scheme: BFV}\n  - path: nvflare.lighter.impl.signature.SignatureBuilder",
        ),
      }),
    },
    code: "ERR_CONFIG_INVALID",
    field: "builders[3].args.scheme",
    value: '"BFV"',
    allowed: [/must be CKKS/],
  },
  {
    name: "HEBuilder with a coefficient modulus over 128-bit security",
    files: {
      [P]: minimalProject({
        builders: DEFAULT_BUILDERS_YAML.replace(
          "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
          "  - path: nvflare.lighter.impl.he.HEBuilder\n    args: {coeff_mod_bit_sizes: [60, 60, 60, 60]}\n  - path: nvflare.lighter.impl.signature.SignatureBuilder",
        ),
      }),
    },
    code: "ERR_CONFIG_INVALID",
    field: "builders[3].args.coeff_mod_bit_sizes",
    value: "[60,60,60,60]",
    allowed: [/adds up to 240 bits, more than the 218/],
  },
  {
    name: "unknown CertBuilder key_algorithm",
    files: {
      [P]: minimalProject({
        builders: DEFAULT_BUILDERS_YAML.replace(
          "  - path: nvflare.lighter.impl.cert.CertBuilder",
          "  - path: nvflare.lighter.impl.cert.CertBuilder\n    args: {key_algorithm: dsa-1024}",
        ),
      }),
    },
    code: "ERR_CONFIG_INVALID",
    field: "builders[2].args.key_algorithm",
    value: '"dsa-1024"',
    allowed: [/must be one of ec-p256, rsa-2048, rsa-3072/],
  },
];
