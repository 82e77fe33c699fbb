export { startEmulator, type EmulatorOptions, type RunningEmulator } from "./server";
export { trustRoot } from "./trust";
