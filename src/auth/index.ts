/** Public API of the auth area: login (challenge-response + session keys), tokens, message MACs, replay window. */
export { AuthErrorCode } from "./errors.js";
export type { AuthErrorCodeValue } from "./errors.js";
export { ClientLogin, ServerLogin, sessionKeysFromSecret, helloSchema, challengeSchema, loginSchema } from "./login.js";
export type { ClientCredentials, ServerCredentials, PendingLogin, SessionKeys, HelloMessage, ChallengeMessage, LoginMessage } from "./login.js";
export { verifyPeerCertificate, verifyServerCertificate } from "./peer-identity.js";
export type { PeerIdentity, PeerType } from "./peer-identity.js";
export { issueToken, verifyToken, DEFAULT_TOKEN_LIFETIME_S } from "./token.js";
export type { TokenClaims } from "./token.js";
export { computeMac, macMatches, MAC_BYTES } from "./mac.js";
export type { MacFields } from "./mac.js";
export { ReplayWindow } from "./replay-window.js";
export { transcript } from "./transcript.js";
export { signCommand, verifyCommand, assertAddressedTo, NonceCache, signedCommandSchema } from "./command-signature.js";
export type { SignedCommand, CommandIssuer } from "./command-signature.js";
export { sealPeerMessage, openPeerMessage, peekPeerMessageHeader } from "./peer-envelope.js";
export type { PeerMessageHeader } from "./peer-envelope.js";
