export { startEmulator, type EmulatorOptions, type RunningEmulator } from "./listener";
export { trustRoot } from "./trust";
