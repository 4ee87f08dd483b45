#!/usr/bin/env bash
# Regenerates Sources/ONNX/Generated/onnx.pb.swift from Scripts/onnx/onnx.proto. Needs protoc (Debian's
# protobuf-compiler) and a protoc-gen-swift built from the swift-protobuf version Package.swift names:
#   git clone https://github.com/apple/swift-protobuf && cd swift-protobuf && git checkout 1.39.0 \
#     && swift build -c release --product protoc-gen-swift        (about 10 minutes on 2 cores)
# Usage: Scripts/onnx/generate.sh PATH/TO/protoc-gen-swift
set -euo pipefail
cd "$(dirname "$0")"
plugin="${1:?usage: generate.sh PATH/TO/protoc-gen-swift}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
protoc --plugin=protoc-gen-swift="$plugin" --swift_out="$work" --swift_opt=Visibility=Public onnx.proto
{
  echo "// GENERATED — do not edit. Generated from Scripts/onnx/onnx.proto (the onnx.proto of the onnx 1.23.2 wheel) by"
  echo "// Scripts/onnx/generate.sh: protoc $(protoc --version | cut -d' ' -f2) (Debian's protobuf-compiler) with the protoc-gen-swift plugin built from"
  echo "// swift-protobuf 1.39.0, option Visibility=Public. The build does not run the plugin."
  echo
  cat "$work/onnx.pb.swift"
} > ../../Sources/ONNX/Generated/onnx.pb.swift
