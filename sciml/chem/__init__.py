"""Chemistry: SMILES -> PyG graphs with RDKit (extra ``chem``)."""

from sciml.chem.featurize import (
    FEATURIZERS,
    FeaturizedMolecules,
    InvalidSmilesError,
    featurize_smiles,
    parse_smiles,
    smiles_to_graph,
)

__all__ = ["FEATURIZERS", "FeaturizedMolecules", "InvalidSmilesError", "featurize_smiles", "parse_smiles", "smiles_to_graph"]
