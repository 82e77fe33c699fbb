// What a group is in this API: its settings, its members and their roles, and what can happen to
// it. A group's id is its jid; members are named by jid (a LID or a phone number's) and, where it
// is known, by phone number.

export const groupRoles = ["member", "admin", "superadmin"] as const;
export type GroupRole = (typeof groupRoles)[number];

export interface GroupParticipant {
  /** The jid WhatsApp names the member by: `<lid>@lid` or `<phone>@s.whatsapp.net`. */
  id: string;
  /** The member's phone number where known (from the jid, the group's metadata or a LID mapping). */
  phoneNumber: string | null;
  role: GroupRole;
}

/** Membership changes (`POST …/participants`, and what notifications report). */
export const participantActions = ["add", "remove", "promote", "demote"] as const;
export type ParticipantAction = (typeof participantActions)[number];

/** The settings a PATCH may change, as their webhook reports them. */
export interface GroupChanges {
  subject?: string;
  description?: string | null;
  /** Only admins send. */
  announce?: boolean;
  /** Only admins edit the group's info. */
  locked?: boolean;
}

/** `<digits>@g.us` or `<digits>-<digits>@g.us`, as WhatsApp makes group jids. */
export const GROUP_ID_PATTERN = "^[0-9]{5,20}(-[0-9]{5,20})?@g\\.us$";
const groupId = new RegExp(GROUP_ID_PATTERN);

export function isGroupId(value: string): boolean {
  return groupId.test(value);
}

/** The phone number in a phone-number jid (`4915…@s.whatsapp.net`, with or without a device), else null. */
export function phoneOfJid(jid: string): string | null {
  const m = /^([0-9]{5,20})(?::[0-9]+)?@s\.whatsapp\.net$/.exec(jid);
  return m ? m[1]! : null;
}

/** The user part of a LID jid (`1234…@lid`, with or without a device), else null. */
export function lidOfJid(jid: string): string | null {
  const m = /^([0-9]{5,24})(?::[0-9]+)?@lid$/.exec(jid);
  return m ? m[1]! : null;
}
