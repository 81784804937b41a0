"""The `credverify` command: one subcommand per service.

    credverify trust ...      federation operator: root keys, issuer records
    credverify issuer ...     source council: keys, signed attestations
    credverify registry ...   destination regulator: serve, verify, register
    credverify hub ...        federation operator: admission of the councils' submissions
    credverify holder ...     practitioner: present her own credential, disclosing what she chooses
    credverify web ...        the pages for case officers and registrars; their accounts
    credverify flows ...      statisticians: the Faust worker, its statistics, CSV/JSON export
                              (also as `credverify flowstats ...`, its earlier name)

Exit codes: 0 done; 1 done in part (some records not confirmed, a verdict
other than VERIFIED); 2 bad arguments, configuration or input.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from credverify import __version__
from credverify.core.cli_support import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from credverify.core.errors import ConfigurationError, CredverifyError, InvalidInput

__all__ = ["EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    from credverify.admission import cli as admission_cli
    from credverify.federation import cli as federation_cli
    from credverify.flowstats import cli as flowstats_cli
    from credverify.holder import cli as holder_cli
    from credverify.issuer import cli as issuer_cli
    from credverify.registry import cli as registry_cli
    from credverify.web import cli as web_cli

    parser = argparse.ArgumentParser(prog="credverify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version="credverify " + __version__)
    parser.add_argument("--log-level", default=os.environ.get("CREDVERIFY_LOG_LEVEL", "INFO"))
    services = parser.add_subparsers(dest="service", required=True, metavar="SERVICE")
    federation_cli.add_commands(services.add_parser("trust", help="federation root keys and issuer records"))
    issuer_cli.add_commands(services.add_parser("issuer", help="sign and publish attestations"))
    registry_cli.add_commands(services.add_parser("registry", help="verify attestations, answer gRPC"))
    admission_cli.add_commands(services.add_parser("hub", help="the hub's admission of submitted attestations"))
    flowstats_cli.add_commands(services.add_parser("flows", help="anonymised flow statistics"))
    flowstats_cli.add_commands(services.add_parser("flowstats", help="the same as flows (earlier name)"))
    holder_cli.add_commands(services.add_parser("holder", help="a practitioner's own credential: present it"))
    web_cli.add_commands(services.add_parser("web", help="pages for case officers and registrars"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # client chatter, not ours
    # kafka-python warns of "credentials in the clear" on every SASL_PLAINTEXT connection, SCRAM
    # too, where the password never crosses the wire; PLAIN over plaintext is refused by our settings.
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    try:
        return int(args.handler(args))
    except (ConfigurationError, InvalidInput) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    except CredverifyError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_PARTIAL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
