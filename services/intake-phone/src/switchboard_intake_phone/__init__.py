"""Switchboard phone intake: voice and SMS webhooks (Twilio format), IVR, voicemail, missed calls, PBX webhook."""
