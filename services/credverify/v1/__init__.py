"""Generated from protos/credverify/v1 by scripts/genproto.py: do not edit."""
