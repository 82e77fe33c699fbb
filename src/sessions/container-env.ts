// What a sandbox container is given: its session id, how to reach the channel and with which
// token, and where WhatsApp is. Unix sockets are reached through their bind-mounted folder (not
// the socket file itself), so a socket re-created by a restarted server is seen by the container.
import { mkdirSync } from "node:fs";
import { dirname, basename } from "node:path";
import { EGRESS_SOCKET, sessionDir } from "../egress/tunnels";
import type { ChannelTokens } from "../channel/tokens";
import { CHANNEL_PATH } from "../channel/frames";
import type { Config } from "../config";
import type { SandboxLaunch } from "../runtime/types";

export const CONTAINER_CHANNEL_DIR = "/run/wa-channel";
export const CONTAINER_WA_DIR = "/run/wa-server";
export const CONTAINER_MEDIA_DIR = "/run/wa-media";
export const CONTAINER_EGRESS_DIR = "/run/wa-egress";

/** The egress gateway: the session's folder there (mounted), and its route told before the container starts. */
export interface LaunchEgress {
  dir: string;
  route(sessionId: string): Promise<void>;
}

export type LaunchConfig = Pick<Config, "channelUrl" | "channelSocket" | "waWsUrl" | "waTrustRoot" | "waMediaSocket" | "waMediaCa" | "waMediaHost" | "logLevel" | "qrTimeoutSeconds" | "mediaMaxBytes" | "mediaAutoDownload" | "authStateMirror" | "databaseUrl" | "nodeDeadSeconds">;

export function makeLaunch(config: LaunchConfig, tokens: ChannelTokens, egress: LaunchEgress | null = null): (sessionId: string, launchId: string) => Promise<SandboxLaunch> {
  return async (sessionId, launchId) => {
    const binds: SandboxLaunch["binds"] = [];
    const env: Record<string, string> = {};
    if (egress) {
      // The folder exists before the mount, whether or not the gateway is up yet (it makes the socket in it).
      const dir = sessionDir(egress.dir, sessionId);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      await egress.route(sessionId);
      binds.push({ hostPath: dir, containerPath: CONTAINER_EGRESS_DIR });
      env.WA_EGRESS_SOCKET = `${CONTAINER_EGRESS_DIR}/${EGRESS_SOCKET}`;
      if (config.waMediaHost) env.WA_MEDIA_HOST = config.waMediaHost;
    }
    let channelUrl: string;
    if (config.channelUrl) {
      const base = new URL(config.channelUrl);
      base.protocol = base.protocol === "https:" || base.protocol === "wss:" ? "wss:" : "ws:";
      channelUrl = `${base.origin}${CHANNEL_PATH}/${sessionId}`;
    } else if (config.channelSocket) {
      binds.push({ hostPath: dirname(config.channelSocket), containerPath: CONTAINER_CHANNEL_DIR });
      channelUrl = `ws+unix://${CONTAINER_CHANNEL_DIR}/${basename(config.channelSocket)}:${CHANNEL_PATH}/${sessionId}`;
    } else {
      throw new Error("neither CHANNEL_URL nor CHANNEL_SOCKET is configured");
    }
    Object.assign(env, {
      SESSION_ID: sessionId,
      CHANNEL_URL: channelUrl,
      CHANNEL_TOKEN: await tokens.sign(sessionId, launchId),
      LOG_LEVEL: config.logLevel,
    });
    if (config.waWsUrl) {
      const unix = /^ws\+unix:\/\/([^:]+):(\/.*)$/.exec(config.waWsUrl);
      if (unix) {
        binds.push({ hostPath: dirname(unix[1]!), containerPath: CONTAINER_WA_DIR });
        env.WA_WS_URL = `ws+unix://${CONTAINER_WA_DIR}/${basename(unix[1]!)}:${unix[2]}`;
      } else {
        env.WA_WS_URL = config.waWsUrl;
      }
    }
    if (config.waTrustRoot) env.WA_TRUST_ROOT = config.waTrustRoot;
    if (config.waMediaSocket) {
      binds.push({ hostPath: dirname(config.waMediaSocket), containerPath: CONTAINER_MEDIA_DIR });
      env.WA_MEDIA_SOCKET = `${CONTAINER_MEDIA_DIR}/${basename(config.waMediaSocket)}`;
    }
    if (config.waMediaCa) env.WA_MEDIA_CA = config.waMediaCa;
    env.WA_MEDIA_MAX_BYTES = String(config.mediaMaxBytes);
    if (!config.mediaAutoDownload) env.WA_MEDIA_AUTO_DOWNLOAD = "false";
    if (config.authStateMirror) env.WA_AUTH_MIRROR = "1";
    // Nodes sharing PostgreSQL adopt a session whose node is unseen for NODE_DEAD_SECONDS: its sandbox leaves WhatsApp at half that without the API.
    if (config.databaseUrl) env.WA_CHANNEL_FENCE_MS = String(config.nodeDeadSeconds * 500);
    if (config.qrTimeoutSeconds) env.WA_QR_TIMEOUT_MS = String(config.qrTimeoutSeconds * 1000);
    return { env, binds };
  };
}
