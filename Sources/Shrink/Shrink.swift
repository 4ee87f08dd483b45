// Shrink: the umbrella module, so a researcher writes `import Shrink` and gets every public module.
@_exported import ArchitectureSearch
@_exported import Datasets
@_exported import Distillation
@_exported import NeuralNetworks
@_exported import ONNX
@_exported import Pruning
@_exported import Quantization
@_exported import Reports
@_exported import Tensors
