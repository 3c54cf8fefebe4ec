"""ELMS: the Enterprise Loan Management System."""
