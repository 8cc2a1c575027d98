import { cpus, freemem, platform, release, totalmem, uptime } from "node:os";

/** sys_info's answer at a site or the server: platform, Node.js, CPUs, memory, uptimes. */
export function systemInfo(): Record<string, string | number> {
  return {
    platform: `${platform()} ${release()}`,
    node: process.version,
    cpus: cpus().length,
    memory_total: totalmem(),
    memory_free: freemem(),
    available_percent: ((freemem() * 100) / totalmem()).toFixed(1),
    uptime_s: Math.round(uptime()),
    process_uptime_s: Math.round(process.uptime()),
  };
}
