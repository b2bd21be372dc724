"""Generated from protocols/mpcstats/v1/*.proto by scripts/gen_protos.sh; do not edit."""
