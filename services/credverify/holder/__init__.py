"""The practitioner's side: her own credential (SD-JWT VC) and the presentations she makes of it."""
