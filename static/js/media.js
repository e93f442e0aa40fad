// The media API of the page, for the pre-call check and the meeting alike:
// devices and local media (media/devices.js), the network test
// (media/network.js), the peer connections to the SFU (media/peers.js) and
// connection quality from getStats() (media/quality.js).

export * from "./media/devices.js";
export * from "./media/network.js";
export * from "./media/peers.js";
export * from "./media/quality.js";
