/**
 * docs/runtime.md (site settings): FLARE's GPUResourceManager and ListResourceManager in
 * local/resources.json decide where jobs asking for GPUs schedule, which GPU ids each job gets,
 * and the job process sees only those (CUDA_VISIBLE_DEVICES; in bubblewrap only their
 * /dev/nvidiaN nodes with nvidiactl and nvidia-uvm). Tested without a GPU: the decisions and the
 * sandbox's arguments. Hostile lists are refused by name.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuDeviceNodes, sandboxCommand, DEFAULT_JOB_LIMITS } from "../../src/runtime/sandbox/index.js";
import { LIST_RESOURCE_MANAGER, MAX_RESOURCE_UNITS, SiteResources, siteCapacity, siteResourcesSchema } from "../../src/runtime/site/resources.js";
import { loadSitePolicyFiles } from "../../src/runtime/participant/policy-files.js";
import { tempDir, writeFile } from "../helpers/index.js";

const listManager = (resources: unknown, extra: Record<string, unknown> = {}) =>
  siteResourcesSchema.parse({ max_concurrent_jobs: 8, components: [{ id: "resource_manager", path: LIST_RESOURCE_MANAGER, args: { resources, ...extra } }] });

test("ListResourceManager: jobs asking for GPUs schedule only where GPUs are listed and free, and get distinct listed ids", () => {
  const { capacity, problems } = siteCapacity(listManager({ gpu: [2, 3, 5] }));
  assert.deepEqual(problems, []);
  const r = new SiteResources(capacity);
  assert.deepEqual(r.check("a", { num_of_gpus: 2 }), { ok: true });
  assert.deepEqual(r.gpusOf("a"), [2, 3]);
  assert.deepEqual(r.check("b", { num_of_gpus: 2 }), { ok: false, reason: "needs 2 GPUs, 1 free now" });
  assert.deepEqual(r.check("b", { gpu: 1 }), { ok: true }, "FLARE's ListResourceManager key works as well");
  assert.deepEqual(r.gpusOf("b"), [5]);
  r.release("a");
  assert.deepEqual(r.check("c", { num_of_gpus: 2, mem_per_gpu_in_GiB: 80 }), { ok: true }, "memory is not known: not checked");
  assert.deepEqual(r.gpusOf("c"), [2, 3]);
  assert.deepEqual(r.check("d", {}), { ok: true });
  assert.deepEqual(r.gpusOf("d"), [], "a job asking no GPU gets none");
  const none = new SiteResources(siteCapacity(listManager({ cpu: [1, 2] })).capacity);
  assert.deepEqual(none.check("e", { num_of_gpus: 1 }), { ok: false, reason: "needs 1 GPUs, the site has 0" });
  assert.deepEqual(none.check("f", { cpu: 3 }), { ok: false, reason: "needs 3 of 'cpu', 2 free now" });
  assert.deepEqual(none.check("g", { tpu: 1 }), { ok: false, reason: "needs 1 of 'tpu', the site lists none" });
  const withMem = new SiteResources(siteCapacity(listManager({ gpu: [0] }, { mem_per_gpu_in_GiB: 16 })).capacity);
  assert.deepEqual(withMem.check("h", { num_of_gpus: 1, mem_per_gpu_in_GiB: 24 }), { ok: false, reason: "needs 24 GiB per GPU, the site's GPUs have 16" });
});

test("GPUResourceManager: num_of_gpus ids 0..N-1; hostile resource_spec counts are refused with the reason", () => {
  const r = new SiteResources(
    siteCapacity(siteResourcesSchema.parse({ components: [{ id: "resource_manager", args: { num_of_gpus: 2, mem_per_gpu_in_GiB: 8 } }] })).capacity,
  );
  for (const [spec, reason] of [
    [{ num_of_gpus: -1 }, /num_of_gpus -1 is not a whole number/],
    [{ num_of_gpus: 1.5 }, /num_of_gpus 1\.5 is not a whole number/],
    [{ num_of_gpus: "2" }, /num_of_gpus "2" is not a whole number/],
    [{ num_of_gpus: 1e9 }, /is not a whole number 0\.\.1024/],
    [{ num_of_gpus: MAX_RESOURCE_UNITS + 1 }, /num_of_gpus 1025 is not a whole number 0\.\.1024/],
    [{ num_of_gpus: 1, mem_per_gpu_in_GiB: -3 }, /mem_per_gpu_in_GiB -3 is not a number/],
  ] as const)
    assert.match(r.check("x", spec as Record<string, unknown>).reason ?? "", reason);
  assert.deepEqual(r.check("z", { num_of_gpus: MAX_RESOURCE_UNITS }), { ok: false, reason: "needs 1024 GPUs, the site has 2" }, "the limit itself is a count");
  assert.deepEqual(r.check("y", { num_of_gpus: 2, mem_per_gpu_in_GiB: 8 }), { ok: true });
  assert.deepEqual(r.gpusOf("y"), [0, 1]);
});

test("hostile GPU lists in resources.json: every problem at once, naming the file, field and value", () => {
  const kit = tempDir();
  const huge = Array.from({ length: 5000 }, (_, i) => i);
  writeFile(
    join(kit, "local", "resources.json"),
    JSON.stringify({ components: [{ id: "resource_manager", path: LIST_RESOURCE_MANAGER, args: { resources: { gpu: [0, 0, -1, 300, "x"], cpu: huge } } }] }),
  );
  assert.throws(
    () => loadSitePolicyFiles(kit, "client", "site-1"),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "ERR_SITE_POLICY_FILES");
      for (const re of [/resources\.json: .*resources\.cpu: at most 1024 units per list/, /resources\.gpu\[2\]: .*\(got -1\)/]) assert.match(e.message, re);
      return true;
    },
  );
  writeFile(
    join(kit, "local", "resources.json"),
    JSON.stringify({ components: [{ id: "resource_manager", path: LIST_RESOURCE_MANAGER, args: { resources: { gpu: [0, 0, 300, "x"] } } }] }),
  );
  assert.throws(
    () => loadSitePolicyFiles(kit, "client", "site-1"),
    (e: Error) => {
      assert.match(e.message, /3 problems/);
      assert.match(e.message, /resources\.gpu\[1\]: 0 is listed twice/);
      assert.match(e.message, /resources\.gpu\[2\]: not a GPU id.*\(got 300\)/);
      assert.match(e.message, /resources\.gpu\[3\]: not a GPU id.*\(got "x"\)/);
      return true;
    },
  );
  // At the limits (docs/runtime.md: at most MAX_RESOURCE_UNITS units per list, 64 lists) and one past them.
  const lists = (n: number, units: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, Array.from({ length: units }, (_, u) => u)]));
  const write = (resources: Record<string, unknown>) =>
    writeFile(
      join(kit, "local", "resources.json"),
      JSON.stringify({ components: [{ id: "resource_manager", path: LIST_RESOURCE_MANAGER, args: { resources } }] }),
    );
  write(lists(64, MAX_RESOURCE_UNITS));
  assert.equal(loadSitePolicyFiles(kit, "client", "site-1").capacity.lists["l63"]?.length, 1024);
  write(lists(1, MAX_RESOURCE_UNITS + 1));
  assert.throws(() => loadSitePolicyFiles(kit, "client", "site-1"), /resources\.l0: at most 1024 units per list/);
  write(lists(65, 1));
  assert.throws(() => loadSitePolicyFiles(kit, "client", "site-1"), /resources: at most 64 lists/);
  writeFile(join(kit, "local", "resources.json"), JSON.stringify({ components: [{ id: "resource_manager", args: { num_of_gpus: -2 } }] }));
  assert.throws(() => loadSitePolicyFiles(kit, "client", "site-1"), /components\[id=resource_manager\]\.args\.num_of_gpus: .*\(got -2\)/);
  writeFile(join(kit, "local", "resources.json"), JSON.stringify({ components: [{ id: "resource_manager", path: "my.OwnManager", args: {} }] }));
  assert.throws(
    () => loadSitePolicyFiles(kit, "client", "site-1"),
    /components\[id=resource_manager\]\.path: not a resource manager Cohort knows \(got "my\.OwnManager"\); use .*ListResourceManager/,
  );
});

test("the job's sandbox binds only its GPUs' device nodes (with nvidiactl and nvidia-uvm); no GPU, no device node", () => {
  assert.deepEqual(gpuDeviceNodes([]), []);
  assert.deepEqual(gpuDeviceNodes([3, 1, 3, -1, 999]), ["/dev/nvidia3", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]);
  const run = tempDir();
  const spec = {
    readOnly: [],
    writable: [run],
    cwd: run,
    env: { CUDA_VISIBLE_DEVICES: "1,3" },
    command: ["/bin/true"],
    limits: DEFAULT_JOB_LIMITS,
    user: { uid: 65532, gid: 65532 },
    seccompFd: undefined,
  };
  const tools = { bwrap: "/usr/bin/bwrap", prlimit: "/usr/bin/prlimit", setpriv: undefined };
  const args = sandboxCommand({ ...spec, devices: gpuDeviceNodes([1, 3]) }, tools, 1000).args;
  const binds = args.flatMap((a, i) => (a === "--dev-bind-try" ? [`${args[i + 1]}=${args[i + 2]}`] : []));
  assert.deepEqual(binds, [
    "/dev/nvidia1=/dev/nvidia1",
    "/dev/nvidia3=/dev/nvidia3",
    "/dev/nvidiactl=/dev/nvidiactl",
    "/dev/nvidia-uvm=/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools=/dev/nvidia-uvm-tools",
  ]);
  assert.ok(args.indexOf("--dev-bind-try") > args.indexOf("--dev"), "after the sandbox's own /dev");
  assert.ok(args.join(" ").includes("--setenv CUDA_VISIBLE_DEVICES 1,3"));
  const plain = sandboxCommand(spec, tools, 1000).args;
  assert.ok(!plain.includes("--dev-bind-try") && !plain.some((a) => a.startsWith("/dev/nvidia")));
});
