/**
 * System packages some tests need, checked on the real machine: `requireSystem(...)` gives
 * node:test's `skip` option with a reason naming the Debian package to install, so a run on a bare
 * machine says what it did not test. With CI=true a missing package throws instead (same message):
 * CI must test everything, and `.ci/run` installs it all.
 *
 * COHORT_TEST_HIDE=python3,nginx,… treats the listed requirements as missing even where installed
 * (to check the skips themselves); the real checks still run for everything else.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CohortError } from "../../src/errors/index.js";

export type SystemRequirement =
  /** Debian's /usr/bin/python3 with msgpack and numpy (the Python Client API). */
  | "python3"
  /** Debian's /usr/bin/python3 with the cryptography package (the Python job manifest signer). */
  | "python3-cryptography"
  /** nginx (proxy tests; a private instance on 127.0.0.1, never the system service). */
  | "nginx"
  /** nginx with its stream module (TCP pass-through proxies). */
  | "nginx-stream"
  /** bubblewrap, able to create a mount namespace here. */
  | "bwrap"
  /** Debian's full Fashion-MNIST under /usr/share/datasets/fashion-mnist. */
  | "dataset"
  /** Debian's /usr/bin/python3 with torch (PyTorch scripts through the Client API). */
  | "torch";

export const REQUIREMENTS: readonly SystemRequirement[] = ["python3", "python3-cryptography", "nginx", "nginx-stream", "bwrap", "dataset", "torch"];

export const PYTHON = "/usr/bin/python3";
export const DEBIAN_DATASET_DIR = "/usr/share/datasets/fashion-mnist";
export const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
const DATASET_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
const INSTALL_HINT = "(.ci/run installs it)";
/** The Debian packages behind each requirement. */
const PACKAGES: Readonly<Record<SystemRequirement, string>> = {
  python3: "python3 python3-msgpack python3-numpy",
  "python3-cryptography": "python3-cryptography",
  nginx: "nginx libnginx-mod-stream",
  "nginx-stream": "libnginx-mod-stream",
  bwrap: "bubblewrap",
  dataset: "dataset-fashion-mnist",
  torch: "python3-torch",
};

/** Why `r` is missing on this machine, naming the packages to install; undefined when present. */
function probe(r: SystemRequirement): string | undefined {
  switch (r) {
    case "python3": {
      const py = spawnSync(PYTHON, ["-c", "import msgpack"], { stdio: "ignore" });
      if (py.error)
        return `${PYTHON} is missing (${(py.error as NodeJS.ErrnoException).code ?? py.error.message}): apt-get install ${PACKAGES.python3} ${INSTALL_HINT}`;
      const packages = ["msgpack", "numpy"]
        .filter((m) => spawnSync(PYTHON, ["-c", `import ${m}`], { stdio: "ignore" }).status !== 0)
        .map((m) => `python3-${m}`);
      return packages.length > 0 ? `${PYTHON} lacks ${packages.join(" and ")}: apt-get install ${packages.join(" ")} ${INSTALL_HINT}` : undefined;
    }
    case "python3-cryptography": {
      const py = spawnSync(PYTHON, ["-c", "import cryptography"], { stdio: "ignore" });
      if (py.error)
        return `${PYTHON} is missing (${(py.error as NodeJS.ErrnoException).code ?? py.error.message}): apt-get install python3 ${PACKAGES["python3-cryptography"]} ${INSTALL_HINT}`;
      return py.status === 0 ? undefined : `${PYTHON} lacks python3-cryptography: apt-get install ${PACKAGES["python3-cryptography"]} ${INSTALL_HINT}`;
    }
    case "nginx":
      return spawnSync("nginx", ["-v"], { stdio: "ignore" }).status === 0
        ? undefined
        : `nginx is not installed: apt-get install ${PACKAGES.nginx} ${INSTALL_HINT}`;
    case "nginx-stream":
      return (
        missing("nginx") ??
        (existsSync(STREAM_MODULE)
          ? undefined
          : `nginx's stream module (${STREAM_MODULE}) is missing: apt-get install ${PACKAGES["nginx-stream"]} ${INSTALL_HINT}`)
      );
    case "bwrap": {
      const b = spawnSync("bwrap", ["--dev-bind", "/", "/", "--", "true"], { encoding: "utf8" });
      if (b.error) return `bwrap is not installed: apt-get install ${PACKAGES.bwrap} ${INSTALL_HINT}`;
      // Installed but unusable: containers often forbid the namespaces bubblewrap needs.
      if (b.status !== 0)
        return `bwrap cannot create a sandbox here (${b.stderr.trim() || `exit ${b.status}`}): run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)`;
      return undefined;
    }
    case "torch": {
      const py = spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" });
      if (py.error)
        return `${PYTHON} is missing (${(py.error as NodeJS.ErrnoException).code ?? py.error.message}): apt-get install python3 ${PACKAGES.torch} ${INSTALL_HINT}`;
      return py.status === 0 ? undefined : `${PYTHON} lacks torch: apt-get install ${PACKAGES.torch} ${INSTALL_HINT}`;
    }
    case "dataset":
      return DATASET_FILES.every((f) => existsSync(join(DEBIAN_DATASET_DIR, f)))
        ? undefined
        : `Debian's Fashion-MNIST (${DEBIAN_DATASET_DIR}) is not installed: apt-get install ${PACKAGES.dataset} ${INSTALL_HINT}`;
  }
}

function hidden(): Set<string> {
  return new Set(
    (process.env["COHORT_TEST_HIDE"] ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

const probed = new Map<SystemRequirement, string | undefined>();

/** Why `r` is unavailable (missing, or hidden by COHORT_TEST_HIDE); undefined when it can be used. */
export function missing(r: SystemRequirement): string | undefined {
  if (hidden().has(r)) return `${r} is hidden by COHORT_TEST_HIDE (where missing: apt-get install ${PACKAGES[r]})`;
  if (!probed.has(r)) probed.set(r, probe(r));
  return probed.get(r);
}

/**
 * node:test options for a test needing `requirements`: `{ skip: false }`, or `{ skip: reason }` with
 * the package to install. Throws (ERR_TEST_REQUIREMENT) instead of skipping when CI=true.
 */
export function requireSystem(...requirements: readonly SystemRequirement[]): { skip: false } | { skip: string } {
  const reasons = requirements.map(missing).filter((m): m is string => m !== undefined);
  if (reasons.length === 0) return { skip: false };
  const reason = reasons.join("; ");
  if (process.env["CI"] === "true") {
    throw new CohortError("ERR_TEST_REQUIREMENT", `CI=true and a test requirement is missing: ${reason}`, { requirements: [...requirements], reason });
  }
  return { skip: reason };
}
